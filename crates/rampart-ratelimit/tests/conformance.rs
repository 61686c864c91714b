//! One suite that every store passes, with controlled time: the memory store
//! on a `ManualClock`, and a real Redis whose script is handed the same
//! clock's time (`RedisStore::clock_for_tests`).

mod common;

use std::{sync::Arc, time::Duration};

use rampart_core::ManualClock;
use rampart_ratelimit::{Demand, Key, MemoryStore, Outcome, RedisStore, Store, Verdict};

fn demand(policy: &str, quota: &str, key: &str) -> Demand {
    Demand::new(policy, quota.parse().unwrap(), Key::text(key))
}

async fn one(store: &dyn Store, d: &Demand) -> Verdict {
    store.decide(std::slice::from_ref(d)).await.unwrap()[0]
}

mod cases {
    use super::*;

    pub(super) async fn burst_then_limited(store: Arc<dyn Store>, _clock: ManualClock) {
        let d = demand("p", "3/minute", "k");
        for left in [2, 1, 0] {
            let v = one(&*store, &d).await;
            assert_eq!((v.outcome, v.remaining), (Outcome::Admitted, left));
        }
        let v = one(&*store, &d).await;
        assert_eq!(v.outcome, Outcome::Limited);
        assert_eq!(v.remaining, 0);
        assert_eq!(v.retry_after, Duration::from_secs(20));
        assert_eq!(v.reset, Duration::from_secs(60));
    }

    pub(super) async fn retry_after_is_exact(store: Arc<dyn Store>, clock: ManualClock) {
        let d = demand("p", "7/minute", "k");
        for _ in 0..7 {
            assert_eq!(one(&*store, &d).await.outcome, Outcome::Admitted);
        }
        let v = one(&*store, &d).await;
        assert_eq!(v.outcome, Outcome::Limited);
        clock.advance(v.retry_after - Duration::from_micros(1));
        assert_eq!(one(&*store, &d).await.outcome, Outcome::Limited);
        clock.advance(Duration::from_micros(1));
        assert_eq!(one(&*store, &d).await.outcome, Outcome::Admitted);
        assert_eq!(one(&*store, &d).await.outcome, Outcome::Limited);
    }

    pub(super) async fn replenishes_in_full(store: Arc<dyn Store>, clock: ManualClock) {
        let d = demand("p", "5/15minutes", "k");
        for _ in 0..5 {
            one(&*store, &d).await;
        }
        clock.advance(Duration::from_secs(900));
        let v = one(&*store, &d).await;
        assert_eq!((v.outcome, v.remaining), (Outcome::Admitted, 4));
        assert_eq!(v.reset, Duration::from_secs(180));
    }

    pub(super) async fn keys_and_policies_are_independent(
        store: Arc<dyn Store>,
        _clock: ManualClock,
    ) {
        one(&*store, &demand("p", "1/hour", "a")).await;
        assert_eq!(
            one(&*store, &demand("p", "1/hour", "a")).await.outcome,
            Outcome::Limited
        );
        assert_eq!(
            one(&*store, &demand("p", "1/hour", "b")).await.outcome,
            Outcome::Admitted
        );
        assert_eq!(
            one(&*store, &demand("q", "1/hour", "a")).await.outcome,
            Outcome::Admitted
        );
        // Keys with braces, bars, spaces and non-ASCII are keys like any other.
        for odd in ["{a}", "}{", "a|b", "a b", "ü", ""] {
            assert_eq!(
                one(&*store, &demand("p", "1/hour", odd)).await.outcome,
                Outcome::Admitted,
                "{odd}"
            );
            assert_eq!(
                one(&*store, &demand("p", "1/hour", odd)).await.outcome,
                Outcome::Limited,
                "{odd}"
            );
        }
    }

    pub(super) async fn all_or_nothing(store: Arc<dyn Store>, _clock: ManualClock) {
        let wide = demand("wide", "10/hour", "k");
        let narrow = demand("narrow", "1/hour", "k");
        let both = [wide.clone(), narrow.clone()];
        let v = store.decide(&both).await.unwrap();
        assert_eq!(
            (v[0].outcome, v[1].outcome),
            (Outcome::Admitted, Outcome::Admitted)
        );
        for _ in 0..3 {
            let v = store.decide(&both).await.unwrap();
            assert_eq!(v[1].outcome, Outcome::Limited);
            assert_eq!(v[0].outcome, Outcome::Admitted);
            assert_eq!(v[0].remaining, 9, "reported as it stands, uncharged");
        }
        // `wide` was charged once only.
        assert_eq!(one(&*store, &wide).await.remaining, 8);
    }

    pub(super) async fn shadow_is_charged_on_its_own(store: Arc<dyn Store>, _clock: ManualClock) {
        let enforce = demand("e", "10/hour", "k");
        let shadow = Demand {
            enforce: false,
            ..demand("s", "1/hour", "k")
        };
        let both = [enforce.clone(), shadow.clone()];
        let v = store.decide(&both).await.unwrap();
        assert_eq!(
            (v[0].outcome, v[1].outcome),
            (Outcome::Admitted, Outcome::Admitted)
        );
        let v = store.decide(&both).await.unwrap();
        // The shadow policy would limit; the enforcing one is charged anyway.
        assert_eq!(
            (v[0].outcome, v[1].outcome),
            (Outcome::Admitted, Outcome::Limited)
        );
        assert_eq!(v[0].remaining, 8);
    }

    pub(super) async fn cost(store: Arc<dyn Store>, _clock: ManualClock) {
        let d = Demand {
            cost: 2,
            ..demand("p", "5/minute", "k")
        };
        assert_eq!(one(&*store, &d).await.remaining, 3);
        assert_eq!(one(&*store, &d).await.remaining, 1);
        let v = one(&*store, &d).await;
        assert_eq!((v.outcome, v.remaining), (Outcome::Limited, 1));
        assert_eq!(v.retry_after, Duration::from_secs(12));
    }

    pub(super) async fn burst_option(store: Arc<dyn Store>, clock: ManualClock) {
        let d = demand("p", "60/minute;burst=2", "k");
        assert_eq!(one(&*store, &d).await.outcome, Outcome::Admitted);
        assert_eq!(one(&*store, &d).await.outcome, Outcome::Admitted);
        assert_eq!(one(&*store, &d).await.outcome, Outcome::Limited);
        clock.advance(Duration::from_secs(1));
        assert_eq!(one(&*store, &d).await.outcome, Outcome::Admitted);
    }

    /// Quota N, a burst from 50 concurrent tasks: exactly N admitted.
    pub(super) async fn exactly_n_under_concurrency(store: Arc<dyn Store>, _clock: ManualClock) {
        const N: usize = 20;
        let d = demand("p", "20/hour", "shared");
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = Arc::clone(&store);
                let d = d.clone();
                tokio::spawn(async move { store.decide(&[d]).await.unwrap()[0].outcome })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            if task.await.unwrap() == Outcome::Admitted {
                admitted += 1;
            }
        }
        assert_eq!(admitted, N);
    }
}

macro_rules! store_conformance {
    ($name:ident, $make:path) => {
        mod $name {
            use super::*;

            macro_rules! case {
                ($case:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let clock = ManualClock::new();
                        let Some(store) = $make(clock.clone()).await else {
                            return;
                        };
                        cases::$case(store, clock).await;
                    }
                };
            }

            case!(burst_then_limited);
            case!(retry_after_is_exact);
            case!(replenishes_in_full);
            case!(keys_and_policies_are_independent);
            case!(all_or_nothing);
            case!(shadow_is_charged_on_its_own);
            case!(cost);
            case!(burst_option);
            case!(exactly_n_under_concurrency);
        }
    };
}

async fn memory(clock: ManualClock) -> Option<Arc<dyn Store>> {
    Some(Arc::new(MemoryStore::builder().clock(clock).build()))
}

async fn redis(clock: ManualClock) -> Option<Arc<dyn Store>> {
    let url = common::redis_url()?;
    let store = RedisStore::new(common::connect(&url).await)
        .prefix(common::unique_prefix("conformance"))
        .clock_for_tests(clock);
    Some(Arc::new(store))
}

store_conformance!(memory_store, memory);
store_conformance!(redis_store, redis);

/// Exactness on Redis with the server's own clock, as production runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_server_time_exactly_n() {
    let Some(url) = common::redis_url() else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::new(common::connect(&url).await).prefix(common::unique_prefix("servertime")),
    );
    cases::exactly_n_under_concurrency(store, ManualClock::new()).await;
}

/// Keys expire when their quota is back in full, and are hash-tagged.
#[tokio::test]
async fn redis_keys_expire_at_full_replenishment() {
    let Some(url) = common::redis_url() else {
        return;
    };
    let prefix = common::unique_prefix("ttl");
    let mut connection = common::connect(&url).await;
    let store = RedisStore::new(connection.clone()).prefix(prefix.clone());
    let d = demand("login", "5/15minutes", "ada");
    for _ in 0..2 {
        store.decide(std::slice::from_ref(&d)).await.unwrap();
    }
    let key = format!("{prefix}{{login:ada}}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!((359_000..=360_000).contains(&ttl), "{ttl}");
}

/// After `SCRIPT FLUSH` the script is loaded again (NOSCRIPT is handled).
#[tokio::test]
async fn redis_reloads_the_script_after_flush() {
    let Some(url) = common::redis_url() else {
        return;
    };
    let mut connection = common::connect(&url).await;
    let store = RedisStore::new(connection.clone()).prefix(common::unique_prefix("flush"));
    let d = demand("p", "10/minute", "k");
    store.decide(std::slice::from_ref(&d)).await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut connection)
        .await
        .unwrap();
    let v = store.decide(std::slice::from_ref(&d)).await.unwrap();
    assert_eq!(v[0].remaining, 8);
}

/// Another client flushing the script cache over and over, as a busy test suite
/// or an operator can, never turns a decision into an error: each one still
/// counts exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_decides_while_another_client_flushes_scripts() {
    let Some(url) = common::redis_url() else {
        return;
    };
    let mut flusher = common::connect(&url).await;
    let store = RedisStore::new(common::connect(&url).await).prefix(common::unique_prefix("race"));
    let d = demand("p", "1000/day", "k");
    let flushing = tokio::spawn(async move {
        for _ in 0..300 {
            let _: () = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut flusher)
                .await
                .unwrap();
            tokio::task::yield_now().await;
        }
    });
    for i in 0..300_u64 {
        let v = store.decide(std::slice::from_ref(&d)).await.unwrap();
        assert_eq!(v[0].remaining, 999 - i);
    }
    flushing.await.unwrap();
}
