//! operator-demo as a person runs it: the real program on a free loopback
//! port with a temporary DATA_DIR, driven over HTTP(S) and signals.

use std::{sync::Arc, time::Duration};

use rampart_tests::{Demo, run_to_exit};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{
    TlsConnector,
    rustls::{self, RootCertStore, pki_types::ServerName},
};

const BIN: &str = env!("CARGO_BIN_EXE_demo-server");

async fn json(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn health_answers_ok() {
    let demo = Demo::start(BIN, &[]).await;
    let response = demo.client().get(demo.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(content_type(&response), "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.text().await.unwrap(), r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn ready_checks_the_data_dir_it_created() {
    let demo = Demo::start(BIN, &[]).await;
    assert!(demo.data_dir().is_dir(), "DATA_DIR was not created");
    let response = demo.client().get(demo.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["data_dir"], "ok");

    // Take the folder away: not ready, with a problem+json saying which check.
    std::fs::remove_dir_all(demo.data_dir()).unwrap();
    let response = demo.client().get(demo.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(content_type(&response), "application/problem+json");
    let body = json(response).await;
    assert_eq!(body["status"], 503);
    // Its state only: the reason goes to the log.
    assert_eq!(body["checks"]["data_dir"], "failing");
    // Liveness is unaffected.
    let response = demo.client().get(demo.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let demo = Demo::start(BIN, &[]).await;
    let client = demo.client();
    let index = client.get(demo.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(json(index).await["service"], "operator-demo");
    for path in [
        "/nope",
        "/health/extra",
        "/%2e%2e/etc/passwd",
        "/ready.json",
    ] {
        let response = client.get(demo.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            content_type(&response),
            "application/problem+json",
            "{path}"
        );
        let body = json(response).await;
        assert_eq!(body["status"], 404);
        assert_eq!(body["type"], "about:blank");
    }
    let response = client.post(demo.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(content_type(&response), "application/problem+json");
    assert_eq!(response.headers()["allow"], "GET,HEAD");
}

async fn raw_exchange(demo: &Demo, bytes: &[u8]) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(demo.addr()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    reply
}

#[tokio::test]
async fn garbage_on_the_socket_does_not_take_it_down() {
    let demo = Demo::start(BIN, &[]).await;
    for garbage in [
        &b"\x00\x01\x02\x03\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nBad Header\r\n\r\n",
    ] {
        let reply = raw_exchange(&demo, garbage).await;
        // Refused with a 4xx (or 505 for the version), or the connection is
        // closed; never a 2xx, never a 500.
        let head = String::from_utf8_lossy(&reply[..reply.len().min(12)]).into_owned();
        assert!(
            reply.is_empty() || head.starts_with("HTTP/1.1 4") || head == "HTTP/1.1 505",
            "{garbage:?} got {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    // Bytes above 0x7f in a header value are obs-text (RFC 9110 §5.5): allowed.
    let reply = raw_exchange(
        &demo,
        b"GET /health HTTP/1.1\r\nHost: x\r\nX: \xff\xfe\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with(b"HTTP/1.1 200"));
    let response = demo.client().get(demo.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn sigterm_stops_it_gracefully_with_exit_0() {
    let mut demo = Demo::start(BIN, &[]).await;
    // An idle keep-alive connection must not hold the shutdown up.
    let client = demo.client();
    assert_eq!(
        client
            .get(demo.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    demo.terminate().unwrap();
    let status = demo
        .wait_timeout(Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap_or_else(|| {
            panic!(
                "still running 10 s after SIGTERM; stderr:\n{}",
                demo.stderr()
            )
        });
    assert!(status.success(), "{status}; stderr:\n{}", demo.stderr());
    let stderr = demo.stderr();
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(demo.addr()).await.is_err());
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let demo = Demo::start(BIN, &[("LOG_FORMAT", "json")]).await;
    let stderr = demo.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(event["level"].is_string(), "{line}");
    }
}

#[tokio::test]
async fn bare_mode_serves_the_same_routes_without_the_stack() {
    let demo = Demo::start(BIN, &[("RAMPART_BARE", "true")]).await;
    let response = demo.client().get(demo.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("x-request-id"));
    let response = demo.client().get(demo.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

#[test]
fn bad_bind_addr_exits_non_zero_naming_it() {
    for bad in ["nope", "127.0.0.1", "127.0.0.1:70000", "localhost:80"] {
        let (status, stderr) = run_to_exit(BIN, &[], &[("BIND_ADDR", bad)]);
        assert!(!status.success(), "{bad:?} was accepted");
        assert!(stderr.contains("BIND_ADDR"), "{bad:?}: {stderr}");
    }
    let (status, stderr) = run_to_exit(BIN, &["--bind", "not an address"], &[]);
    assert!(!status.success());
    assert!(stderr.contains("BIND_ADDR"), "{stderr}");
}

#[test]
fn unbindable_addresses_exit_1_naming_bind_addr() {
    // A port that is taken, and an address that is not this machine's.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for addr in [taken.as_str(), "203.0.113.77:8000"] {
        let (status, stderr) = run_to_exit(BIN, &[], &[("BIND_ADDR", addr)]);
        assert_eq!(status.code(), Some(1), "{addr}: {stderr}");
        assert!(
            stderr.contains(&format!("BIND_ADDR={addr}")),
            "{addr}: {stderr}"
        );
    }
}

#[test]
fn data_dir_that_cannot_be_created_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let under_a_file = file.join("data");
    let (status, stderr) = run_to_exit(
        BIN,
        &[],
        &[
            ("BIND_ADDR", "127.0.0.1:0"),
            ("DATA_DIR", under_a_file.to_str().unwrap()),
        ],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("DATA_DIR="), "{stderr}");
}

#[test]
fn bad_trusted_proxies_and_tls_settings_are_refused() {
    let (status, stderr) = run_to_exit(BIN, &[], &[("TRUSTED_PROXIES", "10.0.0.0/8,bogus")]);
    assert!(!status.success());
    assert!(stderr.contains("TRUSTED_PROXIES"), "{stderr}");

    // A certificate without its key.
    let (status, stderr) = run_to_exit(BIN, &[], &[("TLS_CERT", "/nonexistent.pem")]);
    assert!(!status.success());
    assert!(stderr.contains("TLS_KEY"), "{stderr}");

    // Files that are not there, or are not PEM.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, b"not a certificate").unwrap();
    for (cert, key) in [
        ("/nonexistent/cert.pem", "/nonexistent/key.pem"),
        (junk.to_str().unwrap(), junk.to_str().unwrap()),
    ] {
        let (status, stderr) = run_to_exit(
            BIN,
            &[],
            &[
                ("BIND_ADDR", "127.0.0.1:0"),
                ("TLS_CERT", cert),
                ("TLS_KEY", key),
            ],
        );
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("TLS_CERT="), "{stderr}");
    }
}

/// A self-signed certificate for 127.0.0.1 written to `dir`: (cert, key, DER).
fn self_signed(dir: &std::path::Path) -> (String, String, Vec<u8>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (
        cert.to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
        certified.cert.der().to_vec(),
    )
}

async fn https_get(demo: &Demo, root: &[u8], alpn: &[u8], path: &str) -> (Vec<u8>, String) {
    let mut roots = RootCertStore::empty();
    roots.add(root.to_vec().into()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(demo.addr()).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let negotiated = tls.get_ref().1.alpn_protocol().unwrap_or_default().to_vec();
    if alpn == b"h2" {
        return (negotiated, String::new());
    }
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    // A server may close without close_notify after `Connection: close`.
    let _ = tls.read_to_end(&mut reply).await;
    (negotiated, String::from_utf8_lossy(&reply).into_owned())
}

#[tokio::test]
async fn https_serves_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(dir.path());
    let demo = Demo::start(BIN, &[("TLS_CERT", &cert), ("TLS_KEY", &key)]).await;

    let (alpn, reply) = https_get(&demo, &der, b"http/1.1", "/health").await;
    assert_eq!(alpn, b"http/1.1");
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with(r#"{"status":"ok"}"#), "{reply}");

    let (alpn, _) = https_get(&demo, &der, b"h2", "/health").await;
    assert_eq!(alpn, b"h2", "HTTP/2 is offered by ALPN");

    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(demo.addr()).await.unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut reply)).await;
    assert!(!reply.starts_with(b"HTTP/1.1 200"));
}
