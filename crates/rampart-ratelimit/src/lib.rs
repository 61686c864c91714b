#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]

mod key;
mod layer;
mod policy;
mod quota;
mod stats;
mod store;

#[cfg(feature = "redis")]
pub use self::store::{BreakerStats, FallbackStore, RedisStore};
pub use self::{
    key::{ClientIpAnd, ClientIpKey, FnKey, Key, KeyExtractor, PrincipalExtractor, PrincipalKey},
    layer::{
        PROBLEM_TYPE_LIMITED, RateLimitConfigError, RateLimitConfigIssue, RateLimitHeaders,
        RateLimitLayer, RateLimitLayerBuilder, RateLimitService, ResponseFuture, rejection,
    },
    policy::{Fallback, Mode, Policy, PolicyError},
    quota::{MAX_BURST_WINDOW, MAX_COUNT, MAX_PERIOD, Quota, QuotaError},
    stats::{RateLimitCounter, RateLimitStats},
    store::{
        AtCapacity, Demand, LeaseStats, LeaseStore, MemoryStore, MemoryStoreBuilder, Outcome,
        RateLimitStoreError, Store, StoreFuture, Verdict,
    },
};
