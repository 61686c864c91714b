#![cfg_attr(docsrs, feature(doc_cfg))]
//! Production middleware for Tower HTTP services.
//!
//! `rampart` re-exports each Rampart crate behind a feature of the same name,
//! and a [`prelude`] with the types an application names most.
//!
//! | feature | crate | what it gives |
//! |---|---|---|
//! | `core` (default) | [`rampart-core`](core) | client IP behind trusted proxies, problem+json, clock, circuit breaker |
//! | `ratelimit` | [`rampart-ratelimit`](ratelimit) | GCRA rate limiting on memory or Redis |
//! | `cors` | [`rampart-cors`](cors) | allow-list CORS |
//! | `headers` | [`rampart-headers`](headers) | security headers and CSP |
//! | `metrics` | [`rampart-metrics`](metrics) | Prometheus HTTP series, `/metrics`, business metrics |
//! | `sentry` | [`rampart-sentry`](sentry) | Sentry context (user, tenant, request id, route), 5xx and panic events, PII scrubbing |
//! | `tenant` | [`rampart-tenant`](tenant) | tenant resolution (principal, subdomain, trusted header, path), per-tenant quotas |
//! | `full` | | all of the above |
//! | `axum` | | reads axum's `ConnectInfo` (and, for metrics and sentry, `MatchedPath`) in every enabled crate |

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
    #[cfg(feature = "ratelimit")]
    pub use rampart_ratelimit::{
        FallbackStore, MemoryStore, Policy, Quota, RateLimitLayer, RedisStore,
    };
    #[cfg(feature = "sentry")]
    pub use rampart_sentry::{
        Identity, SentryConfig, SentryContextLayer, SentryGuard, SentryIdentityLayer,
    };
    #[cfg(feature = "tenant")]
    pub use rampart_tenant::{Limits, Quotas, Tenant, TenantId, TenantLayer, TenantPrincipal};
}
