//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, unused_imports)] // each test binary uses a different subset

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

/// The workspace tests' loopback proxy (cut, stall, pass), the same file.
#[path = "../../../../tests/src/proxy.rs"]
pub mod proxy;

pub use rampart_testkit::{connect, header, redis_url, send, unique_prefix};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use rampart_core::{ClientIp, ClientIpSource, ResponseBody};

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

pub fn json(response: &Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap()
}

pub type Body = ResponseBody<Full<Bytes>>;
