//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// The workspace tests' loopback proxy (cut, stall, pass), the same file.
#[path = "../../../../tests/src/proxy.rs"]
pub mod proxy;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use rampart_core::{ClientIp, ClientIpSource, ResponseBody};
use tower::{BoxError, Service, ServiceExt};

/// `REDIS_URL`, or `None` (with a note) when unset; a panic when unset and
/// `RAMPART_REQUIRE_SERVICES=1`.
pub fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("RAMPART_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("REDIS_URL is unset and RAMPART_REQUIRE_SERVICES=1");
            }
            println!("skipped: REDIS_URL is unset");
            None
        }
    }
}

/// A key prefix no other test run uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "rltest:{test}:{}:{nanos}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn connect(url: &str) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(url).expect("REDIS_URL parses");
    redis::aio::ConnectionManager::new(client)
        .await
        .expect("Redis at REDIS_URL answers")
}

/// A request from `ip` (as ClientIpLayer would have resolved it).
pub fn from_ip(method: &str, path: &str, ip: &str) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::default())
        .unwrap();
    let ip: IpAddr = ip.parse().unwrap();
    request
        .extensions_mut()
        .insert(ClientIp::new(ip, ClientIpSource::Peer));
    request
}

/// A request whose connection peer is `peer` (for ClientIpLayer).
pub fn from_peer(path: &str, peer: &str, xff: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get(path);
    if let Some(xff) = xff {
        builder = builder.header("x-forwarded-for", xff);
    }
    let mut request = builder.body(Full::default()).unwrap();
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(peer);
    request
}

pub async fn ok(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

pub async fn send<S, B>(service: &S, request: Request<Full<Bytes>>) -> Response<Bytes>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: Into<BoxError> + std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Response::from_parts(parts, bytes)
}

pub fn header(response: &Response<Bytes>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

pub fn json(response: &Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap()
}

pub type Body = ResponseBody<Full<Bytes>>;
