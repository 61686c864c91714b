//! A small HTTPS server whose every response passes through rampart-headers'
//! `SecurityHeadersLayer`: the target `scripts/observatory` scans until the
//! reference app mounts the layer itself.
//!
//! ```text
//! cargo run -p rampart-tests --bin headers-tls-server -- CERT KEY [api|html_app]
//! ```
//!
//! Listens on a free loopback port and prints `listening on 127.0.0.1:PORT`
//! as its first line. Every request is marked `HttpsConnection` (it came over
//! TLS) and carries its peer address, as a real TLS server would do.

use std::{
    convert::Infallible,
    fs,
    io::{BufReader, Write},
    net::SocketAddr,
    path::Path,
    process::ExitCode,
    sync::Arc,
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use rampart_headers::{CspNonce, HttpsConnection, SecurityHeadersLayer};
use tokio::net::TcpListener;
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};
use tower::{Layer, ServiceExt, service_fn};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cert, key, preset) = match args.as_slice() {
        [cert, key] => (cert, key, "api"),
        [cert, key, preset] => (cert, key, preset.as_str()),
        _ => {
            println!("usage: headers-tls-server CERT KEY [api|html_app]");
            return ExitCode::from(2);
        }
    };
    let layer = match preset {
        "api" => SecurityHeadersLayer::api(),
        "html_app" => SecurityHeadersLayer::html_app(),
        other => {
            println!("unknown preset {other:?}: api or html_app");
            return ExitCode::from(2);
        }
    };
    match serve(Path::new(cert), Path::new(key), layer).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("headers-tls-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tls_config(cert: &Path, key: &Path) -> Result<ServerConfig, Box<dyn std::error::Error>> {
    let certs = CertificateDer::pem_reader_iter(&mut BufReader::new(fs::File::open(cert)?))
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_reader(&mut BufReader::new(fs::File::open(key)?))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn handler(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match request.extensions().get::<CspNonce>() {
        // html_app: a page whose one inline script carries the nonce.
        Some(nonce) => {
            let html = format!(
                "<!doctype html><html lang=en><head><meta charset=utf-8><title>rampart</title></head>\
                 <body><p id=out></p><script nonce=\"{nonce}\">document.getElementById('out')\
                 .textContent='nonce ok'</script></body></html>"
            );
            let mut response = Response::new(Full::new(Bytes::from(html)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return Ok(response);
        }
        None => Bytes::from_static(b"{\"service\":\"rampart-headers observatory target\"}"),
    };
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn serve(
    cert: &Path,
    key: &Path,
    layer: SecurityHeadersLayer,
) -> Result<(), Box<dyn std::error::Error>> {
    let acceptor = TlsAcceptor::from(Arc::new(tls_config(cert, key)?));
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let app = layer.layer(service_fn(handler));
    loop {
        let (stream, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            // What a TLS server tells the layer: this request came over TLS,
            // from this peer.
            let service = app.map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(HttpsConnection);
                request.extensions_mut().insert(peer);
                request
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
        });
    }
}
