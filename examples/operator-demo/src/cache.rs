//! Layer 11: the response cache (`rampart_cache::CacheLayer`) and the
//! invalidation of what a write changes.
//!
//! Cached, per tenant: the campaign and company lists and reads (`GET
//! /campaigns` too) and the session by id; per principal: `GET /auth/me`
//! and the organization view (admins only: a per-tenant copy would be
//! served to the tenant's agents, whom the handler refuses), and the user's
//! preferences (`GET /api/v1/gdpr/privacy-settings`); per tenant also the
//! telephony provider settings. TTLs are the plan's classes: a campaign
//! (it carries the script) 1 hour, a session by id 24 hours, user
//! preferences 30 minutes, provider settings 15 minutes, every other
//! answer 5 minutes.
//!
//! Tags are per tenant and kind of entity (`campaigns:{tenant}`, ...).
//! Writes invalidate in [`invalidate_writes`], a layer under the cache,
//! rather than in each handler: one table beside the routes' table names
//! what every write under a path prefix touches, so a new write handler
//! under `/api/v1/campaigns` is covered without remembering to call the
//! cache, and the handlers stay free of it. The invalidation is awaited
//! after the handler has committed and before its answer goes up the
//! stack: the client that sees the answer, and any request it then makes
//! to any replica, finds the cache without the old copies. A kind's tag
//! covers its lists and its reads by id together, because writes cascade
//! across ids (deleting a company clears the `company_id` of its campaigns,
//! a disposition changes the session that holds the call).

use std::{borrow::Cow, sync::Arc, time::Duration};

use axum::{body::Body, extract::Request, middleware::Next, response::Response};
use rampart::cache::{
    Cache, CacheConfig, CacheLayer, CacheRoute, CacheScope, CacheStore, MemoryCacheStore,
    RedisCacheStore, TwoTierCacheStore,
};

use crate::{Error, auth::Principal};

/// Bytes of responses a process keeps (the memory store, or the local tier
/// of the two-tier store).
pub const LOCAL_BYTES: u64 = 64 << 20;

pub use crate::config::{CacheArgs, CacheUrl};

/// The routes cached, with their TTL classes and tags.
pub fn config(enabled: bool) -> CacheConfig {
    const HOUR: Duration = Duration::from_secs(3600);
    const MINUTE: Duration = Duration::from_secs(60);
    let tenant = |name: &str, path: &str, kind: &str| {
        CacheRoute::new(name, path)
            .scope(CacheScope::Tenant)
            .tag(format!("{kind}:{{tenant}}"))
    };
    CacheConfig::new()
        .enabled(enabled)
        .route(tenant("campaigns_legacy", "/campaigns", "campaigns"))
        .route(tenant("campaigns", "/api/v1/campaigns", "campaigns"))
        .route(tenant("campaign", "/api/v1/campaigns/{id}", "campaigns").ttl(HOUR))
        .route(tenant("companies", "/api/v1/companies", "companies"))
        .route(tenant("company", "/api/v1/companies/{id}", "companies"))
        .route(tenant("session", "/api/v1/sessions/{id}", "sessions").ttl(24 * HOUR))
        .route(
            CacheRoute::new("me", "/auth/me")
                .scope(CacheScope::Principal)
                .tag("users:{tenant}"),
        )
        // Provider settings: from the environment, changed by a restart
        // only (no write invalidates them), 15 minutes.
        .route(
            CacheRoute::new("telephony_providers", "/api/v1/telephony/providers")
                .scope(CacheScope::Tenant)
                .ttl(15 * MINUTE),
        )
        // The user's preferences: their own, 30 minutes; a write to any
        // `/api/v1/gdpr` path (or an erasure) invalidates `users:{tenant}`.
        .route(
            CacheRoute::new("privacy_settings", "/api/v1/gdpr/privacy-settings")
                .scope(CacheScope::Principal)
                .tag("users:{tenant}")
                .ttl(30 * MINUTE),
        )
        .route(
            CacheRoute::new("organization", "/api/v1/admin/organization")
                .scope(CacheScope::Principal)
                .tag("org:{tenant}"),
        )
}

/// The layer over `store`: the tenant from `rampart_tenant::Tenant`, the
/// principal from the verified [`Principal`].
pub fn layer(store: Arc<dyn CacheStore>, enabled: bool) -> Result<CacheLayer, Error> {
    CacheLayer::builder_shared(store)
        .config(config(enabled))
        .principal(|extensions| {
            extensions
                .get::<Principal>()
                .map(|principal| Cow::Borrowed(principal.user_id.as_str()))
        })
        .build()
        .map_err(|err| Error::Config {
            variable: "CACHE_URL",
            message: err.to_string(),
        })
}

/// The cache `CACHE_URL` and `CACHE_ENABLED` describe. Redis must answer
/// at start, as for `REDIS_URL`; later outages pass requests on uncached.
pub async fn from_args(
    cache_url: Option<&str>,
    redis_url: Option<&str>,
    prefix: &str,
    enabled: bool,
) -> Result<CacheLayer, Error> {
    let url = CacheUrl::parse(cache_url, redis_url).map_err(|message| Error::Config {
        variable: "CACHE_URL",
        message,
    })?;
    let store: Arc<dyn CacheStore> = match url {
        CacheUrl::Memory => Arc::new(MemoryCacheStore::new(LOCAL_BYTES)),
        CacheUrl::Redis(url) => Arc::new(redis_store(&url, prefix).await?.0),
        CacheUrl::TwoTier(url) => {
            let (remote, client) = redis_store(&url, prefix).await?;
            Arc::new(TwoTierCacheStore::new(client, remote, LOCAL_BYTES).await)
        }
    };
    layer(store, enabled)
}

impl CacheArgs {
    /// The servers' shared cache (over `redis_url`, `REDIS_URL`, unless
    /// `CACHE_URL` says otherwise), to invalidate through; `None` with the
    /// memory store (each server's copies are its own and expire with
    /// their TTL).
    ///
    /// # Errors
    ///
    /// A malformed `CACHE_URL`; Redis not answering is logged, and gives
    /// `None`.
    pub async fn shared(&self, redis_url: Option<&str>) -> Result<Option<Cache>, Error> {
        let url = CacheUrl::parse(self.cache_url.as_deref(), redis_url).map_err(|message| {
            Error::Config {
                variable: "CACHE_URL",
                message,
            }
        })?;
        match url {
            CacheUrl::Memory => Ok(None),
            // A Redis store publishes each invalidation: the replicas'
            // two-tier local copies are dropped too.
            CacheUrl::Redis(url) | CacheUrl::TwoTier(url) => {
                match redis_store(&url, &self.cache_prefix).await {
                    Ok((store, _)) => Ok(Some(Cache::new(store))),
                    // The command's own work comes first: the cache is
                    // never the reason it fails.
                    Err(error) => {
                        tracing::warn!(%error, "the servers' cache is unreachable: its copies expire with their TTL");
                        Ok(None)
                    }
                }
            }
        }
    }
}

async fn redis_store(url: &str, prefix: &str) -> Result<(RedisCacheStore, redis::Client), Error> {
    let error = |message: String| Error::Config {
        variable: "CACHE_URL",
        message,
    };
    let client = redis::Client::open(url).map_err(|err| error(err.to_string()))?;
    let connection = redis::aio::ConnectionManager::new(client.clone())
        .await
        .map_err(|err| {
            error(format!(
                "cannot connect to {}: {err}",
                crate::stack::redact(url)
            ))
        })?;
    Ok((RedisCacheStore::new(connection).prefix(prefix), client))
}

/// What the writes under each path prefix change: the kinds whose
/// `{kind}:{tenant}` tags they invalidate.
const WRITES: [(&str, &[&str]); 6] = [
    // A deleted company's campaigns lose their `company_id`.
    ("/api/v1/companies", &["companies", "campaigns", "org"]),
    // A deleted campaign's sessions lose their `campaign_id`; executing
    // one starts sessions; the organization view counts campaigns.
    ("/api/v1/campaigns", &["campaigns", "sessions", "org"]),
    ("/api/v1/sessions", &["sessions", "org"]),
    // A disposition is part of the session that holds the call.
    ("/api/v1/calls", &["sessions", "org"]),
    ("/api/v1/admin/users", &["users", "org"]),
    // An erasure request or its cancellation, privacy settings.
    ("/api/v1/gdpr", &["users"]),
];

/// The tags a write to `path` by `tenant` invalidates.
pub fn write_tags(path: &str, tenant: &str) -> Vec<String> {
    WRITES
        .iter()
        .filter(|(prefix, _)| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .flat_map(|(_, kinds)| tags_of(kinds, tenant))
        .collect()
}

/// What the middleware under the cache needs: the handle, and the layer
/// whose routes are cached (none when `CACHE_ENABLED` is false).
#[derive(Debug, Clone)]
pub struct Consistency {
    cache: Cache,
    layer: Option<CacheLayer>,
}

impl Consistency {
    /// For `layer`, built from [`config`]`(enabled)`.
    pub fn new(layer: &CacheLayer, enabled: bool) -> Self {
        Self {
            cache: layer.handle(),
            layer: enabled.then(|| layer.clone()),
        }
    }

    /// Whether `path` is one of the cached routes' (`{id}` matches a
    /// segment).
    fn cached(&self, path: &str) -> bool {
        self.layer
            .as_ref()
            .is_some_and(|layer| layer.caches_path(path))
    }
}

/// Middleware under the cache. A read of a cached route reaching it is a
/// miss whose answer will be kept: its database reads go to the primary
/// ([`crate::db::read_latest`]), since a lagging replica's view would be
/// pinned for the route's TTL. After every write request (not `GET`,
/// `HEAD` nor `OPTIONS`) of a tenant, whatever its status (a write that
/// failed late may have committed: a session whose call failed is stored
/// as failed), it [`invalidate`]s [`write_tags`] before the answer leaves.
pub async fn invalidate_writes(
    consistency: Consistency,
    request: Request,
    next: Next,
) -> Response<Body> {
    use axum::http::Method;
    let read = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if read {
        return if consistency.cached(request.uri().path()) {
            crate::db::read_latest(next.run(request)).await
        } else {
            next.run(request).await
        };
    }
    let tags = match request.extensions().get::<rampart::tenant::Tenant>() {
        Some(tenant) => write_tags(request.uri().path(), tenant.id().as_str()),
        None => Vec::new(),
    };
    let response = next.run(request).await;
    invalidate(&consistency.cache, &tags).await;
    response
}

/// The tags of `kinds` for `tenant`.
pub fn tags_of(kinds: &[&str], tenant: &str) -> Vec<String> {
    kinds
        .iter()
        .map(|kind| format!("{kind}:{tenant}"))
        .collect()
}

/// Invalidates `tags`, retried twice, then logged: the caller's change is
/// made, and the cache's TTLs bound what stays.
pub async fn invalidate(cache: &Cache, tags: &[String]) {
    if tags.is_empty() {
        return;
    }
    let mut attempt = 0;
    while let Err(error) = cache.invalidate_tags(tags.iter().cloned()).await {
        attempt += 1;
        if attempt == 3 {
            tracing::warn!(%error, ?tags, "cache invalidation after a write failed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_valid_and_writes_name_their_kinds() {
        assert!(config(true).validate().is_ok());
        assert_eq!(
            write_tags("/api/v1/companies/7", "t1"),
            ["companies:t1", "campaigns:t1", "org:t1"]
        );
        assert_eq!(
            write_tags("/api/v1/calls/9/disposition", "t1"),
            ["sessions:t1", "org:t1"]
        );
        assert!(write_tags("/api/v1/companiesx", "t1").is_empty());
        assert!(write_tags("/auth/login", "t1").is_empty());
        let layer = layer(Arc::new(MemoryCacheStore::new(1 << 20)), true).unwrap();
        let on = Consistency::new(&layer, true);
        assert!(on.cached("/api/v1/campaigns/7") && on.cached("/auth/me"));
        assert!(!on.cached("/api/v1/campaigns/7/execute") && !on.cached("/api/v1/campaigns/"));
        assert!(!on.cached("/api/v1/sessions") && !on.cached("/api/v1/admin/audit"));
        assert!(!Consistency::new(&layer, false).cached("/auth/me"));
    }
}
