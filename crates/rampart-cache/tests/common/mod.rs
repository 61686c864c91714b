//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// The workspace tests' loopback proxy (cut, stall, pass), the same file.
#[path = "../../../../tests/src/proxy.rs"]
pub mod proxy;

pub mod app;

use bytes::Bytes;
use http::Response;
use http_body_util::BodyExt;
use rampart_cache::{RedisCacheStore, TwoTierCacheStore};
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
        "cachetest:{test}:{}:{nanos}:{}:",
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

/// A Redis store under a prefix of its own, with a timeout generous enough
/// for a loaded CI machine.
pub async fn redis_store(url: &str, prefix: &str) -> RedisCacheStore {
    RedisCacheStore::new(connect(url).await)
        .prefix(prefix)
        .timeout(std::time::Duration::from_secs(2))
}

pub async fn two_tier(url: &str, prefix: &str) -> TwoTierCacheStore {
    let client = redis::Client::open(url).unwrap();
    TwoTierCacheStore::new(client, redis_store(url, prefix).await, 16 << 20).await
}

/// The response with its body read.
pub async fn send<S, Req, B>(service: &S, request: Req) -> Response<Bytes>
where
    S: Service<Req, Response = Response<B>> + Clone,
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

/// The `Cache-Status` of a response, or "".
pub fn status(response: &Response<Bytes>) -> String {
    header(response, "cache-status").unwrap_or_default()
}
