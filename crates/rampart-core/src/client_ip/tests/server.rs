//! Over a real loopback connection: axum serves with `ConnectInfo`, the peer
//! address is the socket's, and a client writes raw HTTP/1.1.

use std::net::SocketAddr;

use axum::{Extension, Router, routing::get};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::*;

/// Serves `layer` on 127.0.0.1, sends one request with `headers` and returns
/// the response body: the client address the handler saw.
async fn seen_over_tcp(layer: ClientIpLayer, headers: &str) -> String {
    let app = Router::new()
        .route(
            "/",
            get(|Extension(client): Extension<ClientIp>| async move {
                format!("{} {:?}", client.ip(), client.source())
            }),
        )
        .layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET / HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    server.abort();

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split("\r\n\r\n")
        .nth(1)
        .expect("a body")
        .to_owned()
}

#[tokio::test]
async fn loopback_peer_trusted_believes_its_header() {
    let layer = ClientIpLayer::new().trusted_proxies(TrustedProxies::loopback());
    let seen = seen_over_tcp(layer, "X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\n").await;
    assert_eq!(seen, "203.0.113.7 XForwardedFor");
}

#[tokio::test]
async fn loopback_peer_untrusted_is_the_client() {
    let seen = seen_over_tcp(ClientIpLayer::new(), "X-Forwarded-For: 1.2.3.4\r\n").await;
    assert_eq!(seen, "127.0.0.1 Peer");
}

#[tokio::test]
async fn garbage_header_over_the_wire_falls_back_to_the_peer() {
    let layer = ClientIpLayer::new()
        .trusted_proxies(TrustedProxies::loopback())
        .header(ForwardedHeader::Forwarded);
    let seen = seen_over_tcp(
        layer,
        "Forwarded: for=\"\u{ff}, ;;\r\nForwarded: for=unknown\r\n",
    )
    .await;
    assert_eq!(seen, "127.0.0.1 Peer");
}
