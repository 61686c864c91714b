//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, unused_imports)] // each test binary uses a different subset

/// The workspace tests' loopback proxy (cut, stall, pass), the same file.
#[path = "../../../../tests/src/proxy.rs"]
pub mod proxy;

pub use rampart_testkit::{connect, header, redis_url, send, unique_prefix};

pub mod app;

use bytes::Bytes;
use http::Response;
use rampart_cache::{RedisCacheStore, TwoTierCacheStore};

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

/// The `Cache-Status` of a response, or "".
pub fn status(response: &Response<Bytes>) -> String {
    header(response, "cache-status").unwrap_or_default()
}
