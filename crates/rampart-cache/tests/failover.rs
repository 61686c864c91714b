//! Redis cut (as a killed server) and stalled (as a hung one) mid-run,
//! through a loopback proxy: every request still gets the service's right
//! answer, no 5xx; failures are counted and the breaker trips; the cache
//! is used again once Redis is back.

mod common;

use std::{sync::Arc, time::Duration};

use common::{app::*, proxy::TcpProxy, *};
use rampart_cache::{CacheOutcome, CacheStore, RedisCacheStore, TwoTierCacheStore};
use rampart_core::BreakerConfig;

async fn requests(svc: &Svc, round: usize, count: usize) {
    for i in 0..count {
        let key = (round + i) % 5;
        let path = format!("/r/k{key}");
        let response = send(svc, get(&path, &[], None, None)).await;
        assert_eq!(response.status(), 200, "round {round}, request {i}");
        let body = String::from_utf8_lossy(response.body()).into_owned();
        assert!(
            body.starts_with(&format!("GET {path}?")),
            "round {round}: {body}"
        );
    }
}

/// Requests until one is a hit again (Redis back): at most ~10 s.
async fn until_hits(svc: &Svc) {
    for _ in 0..200 {
        let response = send(svc, get("/r/k0", &[], None, None)).await;
        assert_eq!(response.status(), 200);
        if status(&response).contains("hit") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cache was not used again after Redis came back");
}

async fn run(store: Arc<dyn CacheStore>, redis: RedisCacheStore, proxy: &TcpProxy) {
    let state = Inner::default();
    let layer = rampart_cache::CacheLayer::builder_shared(store)
        .config(config())
        .build()
        .unwrap();
    let svc = service(&layer, &state);
    requests(&svc, 0, 20).await;
    until_hits(&svc).await;
    let stats = layer.stats();
    assert_eq!(stats.get("public", CacheOutcome::Error), Some(0));

    proxy.cut().await;
    requests(&svc, 1, 40).await;
    assert!(stats.get("public", CacheOutcome::Error).unwrap() >= 1);
    assert!(
        redis.circuit_breaker().stats().trips() >= 1,
        "the breaker opened"
    );

    proxy.pass().await;
    until_hits(&svc).await;

    proxy.stall().await;
    requests(&svc, 2, 40).await;
    proxy.pass().await;
    until_hits(&svc).await;
    assert!(redis.circuit_breaker().stats().trips() >= 2);
    assert!(redis.circuit_breaker().stats().recoveries() >= 2);
}

async fn redis_through(proxy_url: &str, prefix: &str) -> RedisCacheStore {
    // The default timeout (50 ms), a quick breaker for the test.
    RedisCacheStore::new(connect(proxy_url).await)
        .prefix(prefix)
        .breaker(BreakerConfig {
            failures: 2,
            cooldown: Duration::from_millis(200),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cut_and_stalled_mid_run() {
    let Some(url) = redis_url() else { return };
    let (proxy, proxy_url) = TcpProxy::in_front_of(&url).await;
    let redis = redis_through(&proxy_url, &unique_prefix("failover")).await;
    run(Arc::new(redis.clone()), redis, &proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tier_cut_and_stalled_mid_run() {
    let Some(url) = redis_url() else { return };
    let (proxy, proxy_url) = TcpProxy::in_front_of(&url).await;
    let redis = redis_through(&proxy_url, &unique_prefix("failover2")).await;
    let client = redis::Client::open(proxy_url.as_str()).unwrap();
    let store =
        TwoTierCacheStore::with_local_ttl(client, redis.clone(), 1 << 20, Duration::from_millis(1))
            .await;
    run(Arc::new(store), redis, &proxy).await;
}
