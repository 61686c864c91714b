//! The response cache's configuration: plain data, validated into a
//! [`CacheLayer`](crate::CacheLayer).

use std::time::Duration;

use crate::{CacheConfigError, CacheConfigIssue, layer::route::CompiledRoute, store::MAX_TTL};

/// Who may be served a response cached for a route.
///
/// Whatever the scope, the key holds the request's tenant when there is
/// one: a response is never served across tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum CacheScope {
    /// One response for every caller (of the tenant, if any). A request
    /// with `Authorization` or `Cookie` bypasses the cache.
    #[default]
    Public,
    /// One response per tenant: requests with credentials are cached, and
    /// a request without a tenant bypasses the cache.
    Tenant,
    /// One response per principal (and tenant): requests with credentials
    /// are cached, `Cache-Control: private` responses too, and a request
    /// without a principal bypasses the cache.
    Principal,
}

/// One cached route: which paths, for how long, with which tags.
///
/// Paths are patterns of segments: `/campaigns`, `/campaigns/{id}`,
/// `/assets/*` (`*` as the last segment matches the rest, empty included).
/// Tags are templates: `{tenant}`, `{principal}` and the path's `{name}`s
/// are replaced by the request's values (`campaign:{tenant}:{id}`).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_cache::{CacheRoute, CacheScope};
///
/// let route = CacheRoute::new("campaign", "/campaigns/{id}")
///     .ttl(Duration::from_secs(300))
///     .stale_while_revalidate(Duration::from_secs(30))
///     .tag("campaigns:{tenant}")
///     .tag("campaign:{tenant}:{id}")
///     .scope(CacheScope::Tenant);
/// assert_eq!(route.tags.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[must_use]
pub struct CacheRoute {
    /// The route's name: the `namespace` label of its metrics.
    pub name: String,
    /// The path pattern.
    pub path: String,
    /// How long a response is fresh (default 5 minutes); a response's own
    /// `s-maxage` or `max-age` can only shorten it.
    #[cfg_attr(feature = "serde", serde(default = "default_ttl", with = "secs"))]
    pub ttl: Duration,
    /// How long past its TTL a response may still be served while one
    /// request refreshes it in the background ([RFC 5861 §3]).
    ///
    /// [RFC 5861 §3]: https://www.rfc-editor.org/rfc/rfc5861#section-3
    #[cfg_attr(feature = "serde", serde(default, with = "secs"))]
    pub stale_while_revalidate: Duration,
    /// How long past its TTL a response may be served when the inner
    /// service fails or answers 5xx ([RFC 5861 §4]).
    ///
    /// [RFC 5861 §4]: https://www.rfc-editor.org/rfc/rfc5861#section-4
    #[cfg_attr(feature = "serde", serde(default, with = "secs"))]
    pub stale_if_error: Duration,
    /// Tag templates.
    #[cfg_attr(feature = "serde", serde(default))]
    pub tags: Vec<String>,
    /// Who may share a cached response.
    #[cfg_attr(feature = "serde", serde(default))]
    pub scope: CacheScope,
    /// Request headers whose values are part of the key. A response that
    /// `Vary`s on a header not listed here is not stored.
    #[cfg_attr(feature = "serde", serde(default))]
    pub vary: Vec<String>,
}

#[cfg(feature = "serde")]
fn default_ttl() -> Duration {
    DEFAULT_TTL
}

#[cfg(feature = "serde")]
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// The TTL of a route that names none: the plan's 5 minutes for API responses.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

impl CacheRoute {
    /// A route named `name` (a metrics label: `[a-z0-9_]`) over the paths
    /// `path` matches; 5 minutes, no tags, public scope.
    pub fn new(name: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            ttl: DEFAULT_TTL,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            tags: Vec::new(),
            scope: CacheScope::Public,
            vary: Vec::new(),
        }
    }

    /// How long a response is fresh.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// [`stale_while_revalidate`](Self::stale_while_revalidate).
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale_while_revalidate = window;
        self
    }

    /// [`stale_if_error`](Self::stale_if_error).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// Adds a tag template.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Who may share a cached response.
    pub fn scope(mut self, scope: CacheScope) -> Self {
        self.scope = scope;
        self
    }

    /// Adds a request header to the key.
    pub fn vary(mut self, header: impl Into<String>) -> Self {
        self.vary.push(header.into());
        self
    }
}

/// The response cache's configuration. Only the routes listed are cached;
/// the first route whose path matches a request applies.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_cache::{CacheConfig, CacheRoute, CacheScope};
///
/// let config = CacheConfig::new()
///     .max_body_bytes(512 * 1024)
///     .route(CacheRoute::new("campaigns", "/campaigns").scope(CacheScope::Tenant).tag("campaigns:{tenant}"));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[must_use]
pub struct CacheConfig {
    /// Whether the layer caches at all (`CACHE_ENABLED`, default true);
    /// disabled, it passes every request on untouched.
    pub enabled: bool,
    /// The largest body stored (`CACHE_MAX_BODY_BYTES`, default 1 MiB).
    /// Larger responses, and responses whose size is not known before
    /// their body is read, are passed on and not stored.
    pub max_body_bytes: usize,
    /// The routes cached.
    pub routes: Vec<CacheRoute>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_body_bytes: crate::namespace::DEFAULT_MAX_VALUE_BYTES,
            routes: Vec::new(),
        }
    }
}

impl CacheConfig {
    /// Enabled, a 1 MiB body cap, no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// `CACHE_ENABLED` (`true`/`false`/`1`/`0`) and `CACHE_MAX_BODY_BYTES`
    /// over the defaults; routes are added in code.
    pub fn from_env() -> Result<Self, CacheConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CacheConfigError> {
        let mut config = Self::new();
        let mut issues = Vec::new();
        if let Some(value) = lookup("CACHE_ENABLED") {
            match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => config.enabled = true,
                "false" | "0" | "no" | "off" => config.enabled = false,
                _ => issues.push(CacheConfigIssue::InvalidEnvVar {
                    name: "CACHE_ENABLED",
                    value,
                    expected: "true or false",
                }),
            }
        }
        if let Some(value) = lookup("CACHE_MAX_BODY_BYTES") {
            match value.trim().parse() {
                Ok(bytes) => config.max_body_bytes = bytes,
                Err(_) => issues.push(CacheConfigIssue::InvalidEnvVar {
                    name: "CACHE_MAX_BODY_BYTES",
                    value,
                    expected: "a number of bytes",
                }),
            }
        }
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(CacheConfigError::new(issues))
        }
    }

    /// Whether the layer caches at all.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The largest body stored.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Adds a route (after those already listed).
    pub fn route(mut self, route: CacheRoute) -> Self {
        self.routes.push(route);
        self
    }

    /// Checks the configuration; the error lists every problem.
    pub fn validate(&self) -> Result<(), CacheConfigError> {
        self.compile().map(drop)
    }

    pub(crate) fn compile(&self) -> Result<Vec<CompiledRoute>, CacheConfigError> {
        let mut issues = Vec::new();
        if self.max_body_bytes == 0 {
            issues.push(CacheConfigIssue::ZeroBodyCap);
        }
        let mut routes = Vec::new();
        for (i, route) in self.routes.iter().enumerate() {
            if self.routes[..i].iter().any(|r| r.name == route.name) {
                issues.push(CacheConfigIssue::DuplicateName {
                    name: route.name.clone(),
                });
            }
            let total = route.ttl + route.stale_while_revalidate.max(route.stale_if_error);
            if total > MAX_TTL {
                issues.push(CacheConfigIssue::TtlTooLong {
                    route: route.name.clone(),
                    secs: total.as_secs(),
                    max: MAX_TTL.as_secs(),
                });
            }
            if let Some(compiled) = CompiledRoute::compile(route, &mut issues) {
                routes.push(compiled);
            }
        }
        if issues.is_empty() {
            Ok(routes)
        } else {
            Err(CacheConfigError::new(issues))
        }
    }
}
