#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

mod api;
mod control;
mod error;
mod flight;
mod key;
mod layer;
mod namespace;
mod stats;
mod store;

#[cfg(feature = "redis")]
pub use self::store::{RedisCacheStore, TwoTierCacheStore};
pub use self::{
    api::{Cache, CacheNamespace},
    control::CacheControl,
    error::{CacheConfigError, CacheConfigIssue, CacheError},
    key::{CacheKey, CacheKeyBuilder},
    layer::{
        CacheBody, CacheConfig, CacheLayer, CacheLayerBuilder, CacheRoute, CacheScope,
        CacheService, DEFAULT_TTL, ResponseFuture,
    },
    namespace::{DEFAULT_MAX_VALUE_BYTES, Namespace},
    stats::{CacheOutcome, CacheStats},
    store::{CacheStore, LocalHit, Lookup, MAX_TTL, MemoryCacheStore, StoreFuture, TagStamp},
};
