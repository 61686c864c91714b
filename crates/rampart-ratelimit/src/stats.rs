//! Counters per policy and outcome: plain atomics that a metrics exporter
//! (rampart-metrics, or any other) reads, with no dependency either way.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// The outcomes counted for each policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitCounter {
    /// Requests the policy admitted (the request passed).
    Admitted,
    /// Requests the policy rejected with 429.
    Limited,
    /// Requests a shadow policy would have rejected.
    ShadowLimited,
    /// Decisions made by the fallback, not the primary store.
    Fallback,
    /// Requests rejected with 503 because the store was away and the policy's
    /// fallback is `Reject`, or because a store without fallback failed.
    Unavailable,
    /// Requests in scope whose key could not be extracted (not limited).
    NoKey,
    /// Requests in scope that an exemption let through.
    Exempt,
}

impl RateLimitCounter {
    /// Every counter, in a stable order.
    pub const ALL: [Self; 7] = [
        Self::Admitted,
        Self::Limited,
        Self::ShadowLimited,
        Self::Fallback,
        Self::Unavailable,
        Self::NoKey,
        Self::Exempt,
    ];

    /// A snake_case name, for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admitted => "admitted",
            Self::Limited => "limited",
            Self::ShadowLimited => "shadow_limited",
            Self::Fallback => "fallback",
            Self::Unavailable => "unavailable",
            Self::NoKey => "no_key",
            Self::Exempt => "exempt",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct PolicyCounters([AtomicU64; 7]);

impl PolicyCounters {
    pub(crate) fn add(&self, counter: RateLimitCounter) {
        self.0[counter as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// The counters of one layer's policies, shared by every clone of the layer
/// and its services.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::{RateLimitCounter, MemoryStore, Policy, RateLimitLayer};
///
/// let layer = RateLimitLayer::builder(MemoryStore::new())
///     .policy(Policy::parse("api", "100/minute").unwrap())
///     .build()
///     .unwrap();
/// let stats = layer.stats();
/// assert_eq!(stats.get("api", RateLimitCounter::Admitted), Some(0));
/// let mut rows = 0;
/// stats.for_each(|_policy, _counter, _value| rows += 1);
/// assert_eq!(rows, RateLimitCounter::ALL.len());
/// ```
#[derive(Debug)]
pub struct RateLimitStats {
    policies: Box<[(Arc<str>, PolicyCounters)]>,
}

impl RateLimitStats {
    pub(crate) fn new(names: impl IntoIterator<Item = Arc<str>>) -> Self {
        Self {
            policies: names
                .into_iter()
                .map(|n| (n, PolicyCounters::default()))
                .collect(),
        }
    }

    pub(crate) fn at(&self, index: usize) -> &PolicyCounters {
        &self.policies[index].1
    }

    /// One counter of one policy.
    pub fn get(&self, policy: &str, counter: RateLimitCounter) -> Option<u64> {
        self.policies
            .iter()
            .find(|(name, _)| &**name == policy)
            .map(|(_, c)| c.0[counter as usize].load(Ordering::Relaxed))
    }

    /// Calls `f(policy, counter, value)` for every policy and counter.
    pub fn for_each(&self, mut f: impl FnMut(&str, RateLimitCounter, u64)) {
        for (name, counters) in self.policies.iter() {
            for counter in RateLimitCounter::ALL {
                f(
                    name,
                    counter,
                    counters.0[counter as usize].load(Ordering::Relaxed),
                );
            }
        }
    }
}
