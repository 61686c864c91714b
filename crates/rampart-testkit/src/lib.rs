//! Helpers the crates' integration tests share: Redis from the
//! environment (skipped, or required with `RAMPART_REQUIRE_SERVICES=1` as
//! in CI), key prefixes no other run uses, and a request sent with its
//! response's body read. Not published: the crates use it as a path
//! dev-dependency.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::Response;
use http_body_util::BodyExt;
use tower::{BoxError, Service, ServiceExt};

/// `REDIS_URL`, or `None` (with a note) when unset; a panic when unset and
/// `RAMPART_REQUIRE_SERVICES=1`.
#[allow(clippy::print_stdout, reason = "why the test skips, in its output")]
pub fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("RAMPART_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "REDIS_URL is unset and RAMPART_REQUIRE_SERVICES=1"
            );
            println!("skipped: REDIS_URL is unset");
            None
        }
    }
}

/// A Redis key prefix no other test (of this run or another) uses.
///
/// ```
/// let (a, b) = (rampart_testkit::unique_prefix("t"), rampart_testkit::unique_prefix("t"));
/// assert!(a.starts_with("rampart-test:t:") && a.ends_with(':'));
/// assert_ne!(a, b);
/// ```
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "rampart-test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A connection manager to `url`.
///
/// # Panics
///
/// When `url` does not parse or Redis does not answer: the test cannot run.
pub async fn connect(url: &str) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(url).expect("REDIS_URL parses");
    redis::aio::ConnectionManager::new(client)
        .await
        .expect("Redis at REDIS_URL answers")
}

/// Sends `request` through a clone of `service`: the response with its
/// body read.
///
/// # Panics
///
/// When the service or the body fails.
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

/// The value of header `name`, if present.
///
/// # Panics
///
/// When the value is not visible ASCII.
pub fn header(response: &Response<Bytes>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}
