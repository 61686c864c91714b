#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

mod builder;
mod error;
mod future;
mod key;
mod layer;
mod policy;
mod quota;
mod respond;
mod service;
mod stats;
mod store;

#[cfg(feature = "redis")]
pub use self::store::{BreakerStats, FallbackStore, RedisStore};
pub use self::{
    builder::{RateLimitHeaders, RateLimitLayerBuilder},
    error::{RateLimitConfigError, RateLimitConfigIssue},
    future::ResponseFuture,
    key::{ClientIpAnd, ClientIpKey, FnKey, Key, KeyExtractor, PrincipalExtractor, PrincipalKey},
    layer::RateLimitLayer,
    policy::{Fallback, Mode, Policy, PolicyError},
    quota::{MAX_BURST_WINDOW, MAX_COUNT, MAX_PERIOD, Quota, QuotaError},
    respond::{PROBLEM_TYPE_LIMITED, rejection},
    service::RateLimitService,
    stats::{RateLimitCounter, RateLimitStats},
    store::{
        AtCapacity, Demand, LeaseStats, LeaseStore, MemoryStore, MemoryStoreBuilder, Outcome,
        RateLimitStoreError, Store, StoreFuture, Verdict,
    },
};
