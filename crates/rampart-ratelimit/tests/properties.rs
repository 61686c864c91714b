//! Properties of the GCRA decisions, on the memory store with a manual clock.

use std::{future::Future, time::Duration};

use proptest::prelude::*;
use rampart_core::ManualClock;
use rampart_ratelimit::{Demand, Fallback, Key, MemoryStore, Outcome, Quota};

fn demand(quota: Quota, cost: u32) -> Demand {
    Demand {
        policy: "p".into(),
        quota,
        key: Key::text("k"),
        cost,
        enforce: true,
        fallback: Fallback::default(),
    }
}

fn decide(store: &MemoryStore, d: &Demand) -> rampart_ratelimit::Verdict {
    use rampart_ratelimit::Store;
    let mut future = store.decide(std::slice::from_ref(d));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(&mut future).poll(&mut cx) {
        std::task::Poll::Ready(result) => result.unwrap()[0],
        std::task::Poll::Pending => unreachable!("the memory store answers at once"),
    }
}

proptest! {
    /// Over any run, admitted units never exceed burst + elapsed / interval.
    #[test]
    fn never_admits_more_than_the_quota(
        count in 1u64..50,
        period in 1u64..120,
        steps in proptest::collection::vec((0u64..3_000, 1u32..4), 1..200),
    ) {
        let quota = Quota::per_seconds(count, period).unwrap();
        let clock = ManualClock::new();
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let mut admitted = 0u64;
        for (wait_ms, cost) in steps {
            clock.advance(Duration::from_millis(wait_ms));
            let cost = cost.min(u32::try_from(count).unwrap());
            let v = decide(&store, &demand(quota, cost));
            if v.outcome == Outcome::Admitted {
                admitted += u64::from(cost);
            }
            prop_assert!(v.remaining <= quota.burst());
            let elapsed = clock.elapsed().as_micros() as u64;
            let bound = quota.burst() + elapsed / quota.interval().as_micros() as u64;
            prop_assert!(admitted <= bound, "admitted {} > bound {}", admitted, bound);
        }
    }

    /// A limited request retried exactly after its `retry_after` passes,
    /// and not a moment before.
    #[test]
    fn retry_after_is_tight(count in 1u64..20, period in 1u64..600, extra in 0u64..5) {
        let quota = Quota::per_seconds(count, period).unwrap();
        let clock = ManualClock::new();
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let d = demand(quota, 1);
        for _ in 0..count + extra {
            decide(&store, &d);
        }
        let v = decide(&store, &d);
        prop_assert_eq!(v.outcome, Outcome::Limited);
        prop_assert!(v.retry_after > Duration::ZERO);
        clock.advance(v.retry_after - Duration::from_nanos(1));
        prop_assert_eq!(decide(&store, &d).outcome, Outcome::Limited);
        clock.advance(Duration::from_nanos(1));
        prop_assert_eq!(decide(&store, &d).outcome, Outcome::Admitted);
    }
}
