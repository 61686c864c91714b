//! The security headers over a real TLS connection: the `test-cert` and
//! `headers-tls-server` binaries that `scripts/observatory` scans, driven by
//! a rustls client trusting only the test CA, speaking HTTP/1.1 (which
//! carries no scheme: HSTS must come from the `HttpsConnection` marker).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        ClientConfig, RootCertStore,
        pki_types::{CertificateDer, ServerName, pem::PemObject},
    },
};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(port: u16, ca: &std::path::Path) -> String {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8(response).unwrap()
}

fn start(preset: &str, dir: &std::path::Path) -> (Server, u16) {
    let status = Command::new(env!("CARGO_BIN_EXE_test-cert"))
        .arg(dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_headers-tls-server"))
        .arg(dir.join("cert.pem"))
        .arg(dir.join("key.pem"))
        .arg(preset)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (Server(child), port)
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn api_preset_over_tls_sends_hsts_and_every_header() {
    let dir = std::env::temp_dir().join(format!("rampart-headers-tls-{}", std::process::id()));
    let (_server, port) = start("api", &dir);
    let response = get(port, &dir.join("ca.pem")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for (name, value) in [
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("x-permitted-cross-domain-policies", "none"),
        ("x-xss-protection", "0"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(header(&response, name), Some(value), "{name}\n{response}");
    }
    assert!(header(&response, "permissions-policy").is_some_and(|v| v.contains("camera=()")));
    assert_eq!(header(&response, "server"), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn html_app_preset_over_tls_stamps_the_page_nonce_into_the_policy() {
    let dir = std::env::temp_dir().join(format!("rampart-headers-tls-html-{}", std::process::id()));
    let (_server, port) = start("html_app", &dir);
    let first = get(port, &dir.join("ca.pem")).await;
    let second = get(port, &dir.join("ca.pem")).await;
    let nonce_of = |response: &str| {
        let csp = header(response, "content-security-policy")
            .unwrap()
            .to_owned();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap()
            .to_owned();
        assert!(
            response.contains(&format!("<script nonce=\"{nonce}\">")),
            "{response}"
        );
        nonce
    };
    assert_ne!(nonce_of(&first), nonce_of(&second));
    assert_eq!(header(&first, "x-frame-options"), Some("SAMEORIGIN"));
    let _ = std::fs::remove_dir_all(&dir);
}
