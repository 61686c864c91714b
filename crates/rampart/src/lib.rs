#![cfg_attr(docsrs, feature(doc_cfg))]
//! Production middleware for Tower HTTP services.
//!
//! `rampart` re-exports each Rampart crate behind a feature of the same name,
//! and a [`prelude`] with the types an application names most. The package on
//! crates.io is `rampart-tower`; its library, this crate, is `rampart`:
//!
//! ```toml
//! [dependencies]
//! rampart-tower = { version = "0.1", features = ["ratelimit", "cors", "redis"] }
//! ```
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

#[cfg(feature = "core")]
#[doc(inline)]
pub use rampart_core as core;

#[cfg(feature = "ratelimit")]
#[doc(inline)]
pub use rampart_ratelimit as ratelimit;

#[cfg(feature = "cors")]
#[doc(inline)]
pub use rampart_cors as cors;

#[cfg(feature = "headers")]
#[doc(inline)]
pub use rampart_headers as headers;

#[cfg(feature = "metrics")]
#[doc(inline)]
pub use rampart_metrics as metrics;

#[cfg(feature = "sentry")]
#[doc(inline)]
pub use rampart_sentry as sentry;

#[cfg(feature = "tenant")]
#[doc(inline)]
pub use rampart_tenant as tenant;

#[cfg(feature = "cache")]
#[doc(inline)]
pub use rampart_cache as cache;

/// The types an application names most, in one `use`.
///
/// ```
/// use rampart::prelude::*;
///
/// let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
/// assert!(proxies.contains("10.0.0.1".parse().unwrap()));
/// let _client_ip = ClientIpLayer::new().trusted_proxies(proxies);
/// ```
pub mod prelude {
    #[cfg(feature = "cache")]
    pub use rampart_cache::{
        Cache, CacheConfig, CacheLayer, CacheRoute, CacheScope, CacheService, Namespace,
    };
    #[cfg(feature = "core")]
    pub use rampart_core::{
        ClientIp, ClientIpLayer, ForwardedHeader, ManualClock, Problem, TrustedProxies,
    };
    #[cfg(feature = "cors")]
    pub use rampart_cors::{CorsConfig, CorsLayer};
    #[cfg(feature = "headers")]
    pub use rampart_headers::{
        CspNonce, SecurityHeaders, SecurityHeadersLayer, csp::ContentSecurityPolicy,
    };
    #[cfg(feature = "metrics")]
    pub use rampart_metrics::{Metrics, MetricsEndpoint, MetricsLayer, RouteLabel};
    #[cfg(all(feature = "ratelimit", feature = "redis"))]
    pub use rampart_ratelimit::{FallbackStore, RedisStore};
    #[cfg(feature = "ratelimit")]
    pub use rampart_ratelimit::{MemoryStore, Policy, Quota, RateLimitLayer};
    #[cfg(feature = "sentry")]
    pub use rampart_sentry::{
        Identity, SentryConfig, SentryContextLayer, SentryGuard, SentryIdentityLayer,
    };
    #[cfg(feature = "tenant")]
    pub use rampart_tenant::{Limits, Quotas, Tenant, TenantId, TenantLayer, TenantPrincipal};
}

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
