//! Lease mode on a real Redis: calls saved, and no over-admission across
//! instances.

mod common;

use std::sync::Arc;

use common::*;
use rampart_ratelimit::{Demand, Key, LeaseStore, Outcome, RedisStore, Store};

fn demand(policy: &str, quota: &str, key: &str) -> Demand {
    Demand::new(policy, quota.parse().unwrap(), Key::text(key))
}

#[tokio::test]
async fn a_lease_of_ten_saves_nine_calls_in_ten() {
    let Some(url) = redis_url() else { return };
    let redis = RedisStore::new(connect(&url).await).prefix(unique_prefix("lease"));
    let store = LeaseStore::new(redis).lease("global", 10);
    let d = [demand("global", "100000/hour", "client")];
    let mut admitted = 0;
    for _ in 0..1000 {
        if store.decide(&d).await.unwrap()[0].outcome == Outcome::Admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 1000);
    let calls = store.stats().primary_calls();
    println!("lease 10: {calls} Redis calls per 1,000 admitted requests");
    assert_eq!(calls, 100);
    assert_eq!(store.stats().local_decisions(), 900);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_never_admit_more_than_the_quota() {
    let Some(url) = redis_url() else { return };
    let redis = RedisStore::new(connect(&url).await).prefix(unique_prefix("lease3"));
    let instances: Vec<Arc<LeaseStore<RedisStore>>> = (0..3)
        .map(|_| Arc::new(LeaseStore::new(redis.clone()).lease("global", 8)))
        .collect();
    let tasks: Vec<_> = (0..150)
        .map(|i| {
            let store = Arc::clone(&instances[i % 3]);
            tokio::spawn(async move {
                store
                    .decide(&[demand("global", "50/hour", "client")])
                    .await
                    .unwrap()[0]
                    .outcome
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if task.await.unwrap() == Outcome::Admitted {
            admitted += 1;
        }
    }
    assert!(admitted <= 50, "over-admitted: {admitted}");
    assert!(
        admitted >= 50 - 3 * 8,
        "lost more than instances x lease: {admitted}"
    );
}

#[tokio::test]
async fn a_refused_request_gives_its_local_units_back() {
    let Some(url) = redis_url() else { return };
    let redis = RedisStore::new(connect(&url).await).prefix(unique_prefix("lease-refund"));
    let store = LeaseStore::new(redis).lease("global", 10);
    let global = demand("global", "1000/hour", "client");
    let login = demand("login", "1/hour", "client");
    // Takes a lease of 10 for `global` and the only `login` unit.
    let v = store
        .decide(&[global.clone(), login.clone()])
        .await
        .unwrap();
    assert_eq!(
        (v[0].outcome, v[1].outcome),
        (Outcome::Admitted, Outcome::Admitted)
    );
    assert_eq!(v[0].remaining, 999);
    for _ in 0..3 {
        let v = store
            .decide(&[global.clone(), login.clone()])
            .await
            .unwrap();
        assert_eq!(v[1].outcome, Outcome::Limited);
        assert_eq!(v[0].remaining, 999, "global's unit was given back");
    }
    let v = store.decide(std::slice::from_ref(&global)).await.unwrap();
    assert_eq!(v[0].remaining, 998);
}

/// A request cancelled while its lease store waits for Redis (its `decide`
/// future dropped) gives back the units it took from local leases: it was
/// admitted by nobody. Before the fix they were lost until the lease
/// expired, and the key's next requests went to Redis early. Nothing else
/// is left behind: later requests lease and decide as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_gives_its_local_units_back() {
    let Some(url) = redis_url() else { return };
    let (proxy, proxied) = proxy::TcpProxy::in_front_of(&url).await;
    let redis = RedisStore::new(connect(&proxied).await).prefix(unique_prefix("lease-cancel"));
    let store = LeaseStore::new(redis)
        .lease("global", 10)
        .ttl(std::time::Duration::from_secs(60));
    let global = demand("global", "1000/hour", "client");
    let login = demand("login", "100/hour", "client");
    // A lease of 10 for `global`: 1 spent, 9 held here.
    let v = store.decide(std::slice::from_ref(&global)).await.unwrap();
    assert_eq!(v[0].outcome, Outcome::Admitted);
    assert_eq!(store.stats().primary_calls(), 1);

    // `global` is taken from the lease, `login` waits for a Redis that
    // hangs; the request is cancelled.
    proxy.stall().await;
    let cancelled = store.decide(&[global.clone(), login.clone()]);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(100), cancelled)
            .await
            .is_err(),
        "the request was waiting for Redis"
    );
    assert_eq!(store.stats().primary_calls(), 2);
    proxy.pass().await;

    // The 9 leased units are all here: 9 requests with no call.
    for i in 0..9 {
        let v = store.decide(std::slice::from_ref(&global)).await.unwrap();
        assert_eq!(v[0].outcome, Outcome::Admitted, "{i}");
    }
    assert_eq!(
        store.stats().primary_calls(),
        2,
        "every one was decided from the lease"
    );
    // The lease spent, the next request leases again from Redis.
    let v = store.decide(&[global, login]).await.unwrap();
    assert_eq!(
        (v[0].outcome, v[1].outcome),
        (Outcome::Admitted, Outcome::Admitted)
    );
    assert_eq!(store.stats().primary_calls(), 3);
}
