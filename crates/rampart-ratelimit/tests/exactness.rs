//! Through the layer: quota N, 50 concurrent requests, exactly N admitted,
//! on both stores; and on Redis, `Retry-After` agrees with when the next
//! request really passes.

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use rampart_core::ManualClock;
use rampart_ratelimit::{MemoryStore, Policy, RateLimitLayer, RedisStore, Store};
use tower::{Layer, service_fn};

async fn exactly_n(store: impl Store) {
    const N: usize = 17;
    let service = RateLimitLayer::builder(store)
        .policy(Policy::parse("api", "17/hour").unwrap())
        .build()
        .unwrap()
        .layer(service_fn(ok));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                send(&service, from_ip("GET", "/api", "192.0.2.1"))
                    .await
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        N,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        50 - N,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_admits_exactly_n_of_50_concurrent() {
    exactly_n(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_admits_exactly_n_of_50_concurrent() {
    let Some(url) = redis_url() else { return };
    exactly_n(RedisStore::new(connect(&url).await).prefix(unique_prefix("exact"))).await;
}

#[tokio::test]
async fn redis_retry_after_agrees_with_the_next_success() {
    let Some(url) = redis_url() else { return };
    let clock = ManualClock::new();
    let store = RedisStore::new(connect(&url).await)
        .prefix(unique_prefix("retry"))
        .clock_for_tests(clock.clone());
    let service = RateLimitLayer::builder(Arc::new(store))
        .policy(Policy::parse("login", "5/15minutes").unwrap())
        .build()
        .unwrap()
        .layer(service_fn(ok));
    for _ in 0..5 {
        assert_eq!(
            send(&service, from_ip("POST", "/auth/login", "192.0.2.1"))
                .await
                .status(),
            200
        );
    }
    let limited = send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "retry-after").unwrap(), "180");
    assert_eq!(
        header(&limited, "ratelimit").unwrap(),
        "\"login\";r=0;t=180"
    );
    clock.advance(Duration::from_secs(180) - Duration::from_millis(1));
    let early = send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
    assert_eq!(early.status(), 429);
    assert_eq!(header(&early, "retry-after").unwrap(), "1");
    clock.advance(Duration::from_millis(1));
    let on_time = send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
    assert_eq!(on_time.status(), 200);
    assert_eq!(
        header(&on_time, "ratelimit").unwrap(),
        "\"login\";r=0;t=900"
    );
}
