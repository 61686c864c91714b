//! The Rampart layers of the demo and how each is configured from the
//! command line and the environment.

use rampart::{
    core::ClientIpConfig,
    cors::{CorsConfig, CorsLayer},
    headers::{SecurityHeaders, SecurityHeadersLayer, csp::ContentSecurityPolicy},
    metrics::{Metrics, MetricsEndpoint, RegisterError},
    ratelimit::{FallbackStore, MemoryStore, Policy, RateLimitLayer, RedisStore},
};

use std::sync::Arc;

use crate::{
    Error,
    auth::{
        AuthArgs, AuthLayer, Authentication, Keys, LoginLimiter, TokenSettings, TokenVerifier,
        api_rate_limit_layer,
    },
    config::ServeArgs,
};

/// The paths the global limit does not count: a load balancer's and a
/// scraper's probes must keep working while a client is being limited.
/// `/health` and `/ready` have a limit of their own (`RATE_LIMIT_PROBES`).
pub const UNLIMITED_PATHS: [&str; 3] = ["/health", "/ready", "/metrics"];

/// The Rampart layers of [`app`](crate::app::app), each fully configured.
/// [`Stack::default`] is the embedded default: no trusted proxy, the `api()`
/// security headers, CORS for `http://localhost:5173`, and the plan's global
/// rate limit (1000 requests per hour per client address, 100 at once)
/// counted in memory.
///
/// # Example
///
/// ```
/// use operator_demo::app::Stack;
///
/// let mut stack = Stack::default();
/// stack.client_ip.trusted_proxies = "10.0.0.0/8".parse().unwrap();
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stack {
    /// `TRUSTED_PROXIES`, `CLIENT_IP_HEADER`.
    pub client_ip: ClientIpConfig,
    /// `SECURITY_HEADERS_*` (default: the `api()` preset).
    pub security_headers: SecurityHeadersLayer,
    /// `CORS_ALLOWED_ORIGINS` or `FRONTEND_URL` + `PRODUCTION_URL`, and `CORS_*`.
    pub cors: CorsLayer,
    /// `RATE_LIMIT_GLOBAL`, `REDIS_URL`.
    pub rate_limit: RateLimitLayer,
    /// Verifies `Authorization: Bearer` tokens; the default verifies
    /// against a key generated for this process only.
    pub auth: AuthLayer,
    /// `RATE_LIMIT_PROBES`: per client address on `/health` and `/ready`,
    /// in this process's memory.
    pub probe_rate_limit: RateLimitLayer,
    /// `RATE_LIMIT_API`: per user, on `/api` routes (default 100/minute).
    pub api_rate_limit: RateLimitLayer,
    /// `RATE_LIMIT_LOGIN` (per client address and email) and
    /// `RATE_LIMIT_LOGIN_ADDRESS` (per address), in the same store.
    pub login_limiter: LoginLimiter,
    /// `HTTP_REQUEST_TIMEOUT_SECS`: 408 or 503 problem+json past it.
    pub request_timeout: crate::timeout::RequestTimeoutLayer,
    /// The Redis connection the rate limits share (`REDIS_URL`), for `/ready`.
    pub redis: Option<redis::aio::ConnectionManager>,
    /// The registry behind `/metrics`: the HTTP series, the rate-limit and
    /// CORS counters, and the app's business metrics.
    pub metrics: Metrics,
    /// `/metrics`, guarded by `METRICS_ALLOWED_IPS` or
    /// `METRICS_BASIC_AUTH_USER` / `METRICS_BASIC_AUTH_PASSWORD` when set.
    pub metrics_endpoint: MetricsEndpoint,
    /// Layer 9: the organization of the verified principal as the tenant.
    pub tenant: rampart::tenant::TenantLayer,
    /// Layer 11: `CACHE_URL`, `CACHE_ENABLED`: the response cache, innermost;
    /// its [`handle`](rampart::cache::CacheLayer::handle) invalidates after writes.
    pub cache: rampart::cache::CacheLayer,
    /// `CACHE_ENABLED`.
    pub cache_enabled: bool,
    /// Whether a Sentry client is bound (`SENTRY_DSN` set): sentry-tower's
    /// hub and HTTP layers are mounted only then.
    pub sentry: bool,
}

impl Default for Stack {
    fn default() -> Self {
        // The embedded defaults are constants checked by the tests below;
        // configuration a person types goes through `Stack::from_args`.
        let cors = cors_layer("http://localhost:5173", |_| None)
            .expect("the default CORS allow-list is valid");
        let rate_limit = RateLimitLayer::builder(MemoryStore::new())
            .policy(
                global_policy(crate::config::DEFAULT_RATE_LIMIT_GLOBAL)
                    .expect("the default global quota is valid"),
            )
            .build()
            .expect("the default rate limit is valid");
        let api_rate_limit =
            api_rate_limit_layer(MemoryStore::new(), AuthArgs::default().rate_limit_api)
                .expect("the default API rate limit is valid");
        let tenant =
            crate::tenancy::tenant_layer(None).expect("the tenant layer's constants are valid");
        let probe_rate_limit =
            probe_rate_limit(PROBES_DEFAULT).expect("the default probe limit is valid");
        let metrics = metrics_of(
            [&rate_limit, &probe_rate_limit, &api_rate_limit],
            &cors,
            &tenant,
        )
        .expect("a fresh registry takes the demo's counters");
        Self {
            client_ip: ClientIpConfig::default(),
            security_headers: with_docs(SecurityHeaders::api())
                .build()
                .expect("the default security headers are valid"),
            cors,
            rate_limit,
            probe_rate_limit,
            auth: ephemeral_auth(),
            api_rate_limit,
            login_limiter: LoginLimiter::memory(AuthArgs::default().rate_limit_login),
            request_timeout: crate::timeout::RequestTimeoutLayer::new(
                std::time::Duration::from_secs(30),
            ),
            redis: None,
            metrics_endpoint: metrics.service(),
            metrics,
            tenant,
            cache: crate::cache::layer(
                Arc::new(rampart::cache::MemoryCacheStore::new(
                    crate::cache::LOCAL_BYTES,
                )),
                true,
            )
            .expect("the cached routes are valid"),
            cache_enabled: true,
            sentry: false,
        }
    }
}

impl Stack {
    /// The stack the command line and the environment describe. Every error
    /// names the variable to fix.
    pub async fn from_args(
        args: &ServeArgs,
        auth: &Authentication,
        db: Option<crate::db::Db>,
    ) -> Result<Self, Error> {
        let mut client_ip = ClientIpConfig::default();
        client_ip.trusted_proxies = args.trusted_proxies.clone();
        client_ip.header = args.client_ip_header;

        let security_headers = with_docs(
            SecurityHeaders::from_env()
                .map_err(|err| config_error("SECURITY_HEADERS_*", err))?
                .trusted_proxies(args.trusted_proxies.clone()),
        )
        .build()
        .map_err(|err| config_error("SECURITY_HEADERS_*", err))?;

        let (origins, variable) = cors_origins(args);
        let cors = cors_layer(&origins, |name| std::env::var(name).ok())
            .map_err(|err| config_error(variable, err))?;

        let global = global_policy(&args.rate_limit_global)
            .map_err(|err| config_error("RATE_LIMIT_GLOBAL", err))?;
        let redis = match &args.redis_url {
            Some(url) => Some(connect_redis(url).await?),
            None => None,
        };
        // Each Redis store's circuit breaker, exported on /metrics by name.
        let mut breakers = Vec::new();
        let builder = match &redis {
            Some(connection) => {
                let store = FallbackStore::new(RedisStore::new(connection.clone()));
                breakers.push(("edge", store.stats()));
                RateLimitLayer::builder(store)
            }
            None => RateLimitLayer::builder(MemoryStore::new()),
        };
        // The login and per-user limits count where the edge limit does:
        // in Redis (shared by every replica) when configured.
        let (api_rate_limit, login_limiter) = match &redis {
            Some(connection) => {
                let store = || FallbackStore::new(RedisStore::new(connection.clone()));
                let (api, login) = (store(), store());
                breakers.push(("api", api.stats()));
                breakers.push(("login", login.stats()));
                (
                    auth.api_rate_limit_layer(api),
                    auth.login_limiter(Arc::new(login)),
                )
            }
            None => (
                auth.api_rate_limit_layer(MemoryStore::new()),
                auth.login_limiter(Arc::new(MemoryStore::new())),
            ),
        };
        let api_rate_limit = api_rate_limit.map_err(|err| config_error("RATE_LIMIT_API", err))?;
        let probe_rate_limit = probe_rate_limit(&args.rate_limit_probes)
            .map_err(|err| config_error("RATE_LIMIT_PROBES", err))?;
        let rate_limit = builder
            .policy(global)
            .build()
            .map_err(|err| config_error("RATE_LIMIT_GLOBAL", err))?;

        let tenant =
            crate::tenancy::tenant_layer(db).map_err(|err| config_error("DATABASE_URL", err))?;
        let cache = crate::cache::from_args(
            args.cache.cache_url.as_deref(),
            args.redis_url.as_deref(),
            &args.cache.cache_prefix,
            args.cache_enabled,
        )
        .await?;
        let metrics = metrics_of(
            [&rate_limit, &probe_rate_limit, &api_rate_limit],
            &cors,
            &tenant,
        )
        .map_err(|err| config_error("METRICS_*", err))?;
        metrics
            .register_cache(cache.stats())
            .map_err(|err| config_error("METRICS_*", err))?;
        for (store, stats) in breakers {
            metrics
                .register_ratelimit_breaker(store, stats)
                .map_err(|err| config_error("METRICS_*", err))?;
        }
        let metrics_endpoint = metrics
            .service()
            .guard_from_env()
            .map_err(|err| config_error("METRICS_*", err))?;

        Ok(Self {
            client_ip,
            security_headers,
            cors,
            rate_limit,
            probe_rate_limit,
            auth: auth.layer(),
            api_rate_limit,
            login_limiter,
            request_timeout: crate::timeout::RequestTimeoutLayer::new(args.http.request_timeout),
            redis,
            metrics,
            metrics_endpoint,
            tenant,
            cache,
            cache_enabled: args.cache_enabled,
            sentry: rampart::sentry::sentry::Hub::current()
                .client()
                .is_some_and(|client| client.is_enabled()),
        })
    }
}

/// Swagger UI at `/docs` runs scripts and styles of its own origin: it gets
/// the `swagger_ui()` policy; every other path keeps the API's.
/// A registry with the counters of the demo's rate limits, CORS and tenant layers.
fn metrics_of(
    rate_limits: [&RateLimitLayer; 3],
    cors: &CorsLayer,
    tenant: &rampart::tenant::TenantLayer,
) -> Result<Metrics, RegisterError> {
    let metrics = Metrics::new();
    for rate_limit in rate_limits {
        metrics.register_ratelimit(rate_limit.stats())?;
    }
    metrics.register_cors(cors.stats())?;
    metrics.register_tenant(tenant.stats())?;
    Ok(metrics)
}

fn with_docs(headers: SecurityHeaders) -> SecurityHeaders {
    headers.route(
        "/docs",
        SecurityHeaders::api().content_security_policy(ContentSecurityPolicy::swagger_ui()),
    )
}

/// A verifier of tokens signed with a key made for this process only: no
/// token from elsewhere passes. [`Stack::from_args`] uses the real keys.
fn ephemeral_auth() -> AuthLayer {
    AuthLayer::new(TokenVerifier::new(
        &Keys::generate(),
        &TokenSettings::default(),
    ))
}

/// The plan's global limit: per client address, on every route but the probes.
fn global_policy(quota: &str) -> Result<Policy, rampart::ratelimit::PolicyError> {
    Ok(Policy::parse("global", quota)?.except_paths(UNLIMITED_PATHS))
}

/// The probes' own limit, per client address: a flood of `/ready` is
/// refused before it reaches the checks, and users' limits never count them.
/// Counted in this process's memory even with `REDIS_URL`: a probe checks
/// one instance, and a load balancer probing every replica from one address
/// must not spend one shared quota.
fn probe_rate_limit(
    quota: &str,
) -> Result<RateLimitLayer, Box<dyn std::error::Error + Send + Sync>> {
    let policy = Policy::parse("probes", quota)?
        .path_prefix("/health")
        .path_prefix("/ready");
    Ok(RateLimitLayer::builder(MemoryStore::new())
        .policy(policy)
        .build()?)
}

/// `RATE_LIMIT_PROBES`' default (as in config.rs).
const PROBES_DEFAULT: &str = "600/minute;burst=60";

/// The CORS settings the plan asks for, used where no `CORS_*` variable says
/// otherwise: credentials, the five methods, `Authorization` and `Content-Type`.
const CORS_DEFAULTS: [(&str, &str); 5] = [
    ("CORS_ALLOWED_METHODS", "GET,POST,PUT,PATCH,DELETE"),
    ("CORS_ALLOWED_HEADERS", "authorization,content-type"),
    (
        "CORS_EXPOSED_HEADERS",
        "retry-after,ratelimit,ratelimit-policy,x-request-id",
    ),
    ("CORS_ALLOW_CREDENTIALS", "true"),
    ("CORS_MAX_AGE", "600"),
];

/// The CORS layer for `origins` (a comma list), other settings from `env`
/// over [`CORS_DEFAULTS`].
fn cors_layer(
    origins: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<CorsLayer, rampart::cors::CorsConfigError> {
    cors_config(origins, env)?.build()
}

fn cors_config(
    origins: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<CorsConfig, rampart::cors::CorsConfigError> {
    CorsConfig::from_env_with(|name| {
        if name == "CORS_ALLOWED_ORIGINS" {
            return Some(origins.to_owned());
        }
        env(name).or_else(|| {
            CORS_DEFAULTS
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    })
}

/// `CORS_ALLOWED_ORIGINS` when set, else `FRONTEND_URL` and `PRODUCTION_URL`,
/// with the variable to name in an error.
fn cors_origins(args: &ServeArgs) -> (String, &'static str) {
    if let Some(list) = &args.cors_allowed_origins {
        (list.clone(), "CORS_ALLOWED_ORIGINS")
    } else {
        let urls: Vec<&str> = [Some(&args.frontend_url), args.production_url.as_ref()]
            .into_iter()
            .flatten()
            .map(|url| url.trim())
            .collect();
        (urls.join(","), "FRONTEND_URL / PRODUCTION_URL")
    }
}

async fn connect_redis(url: &str) -> Result<redis::aio::ConnectionManager, Error> {
    let client = redis::Client::open(url).map_err(|err| config_error("REDIS_URL", err))?;
    redis::aio::ConnectionManager::new(client)
        .await
        .map_err(|err| Error::Config {
            variable: "REDIS_URL",
            message: format!("cannot connect to {}: {err}", redact(url)),
        })
}

/// The URL without its password, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn config_error(variable: &'static str, err: impl std::fmt::Display) -> Error {
    Error::Config {
        variable,
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_build() {
        let stack = Stack::default();
        assert!(stack.client_ip.trusted_proxies.is_empty());
    }

    #[test]
    fn redis_password_is_not_repeated() {
        assert_eq!(
            redact("redis://:secret@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn cors_defaults_apply_where_no_variable_is_set() {
        let config =
            |env: fn(&str) -> Option<String>| cors_config("http://localhost:5173", env).unwrap();
        let defaults = config(|_| None);
        assert!(defaults.allow_credentials);
        assert_eq!(
            defaults.allowed_methods,
            ["GET", "POST", "PUT", "PATCH", "DELETE"]
        );
        assert_eq!(defaults.max_age_secs, Some(600));
        let overridden = config(|name| (name == "CORS_ALLOW_CREDENTIALS").then(|| "false".into()));
        assert!(!overridden.allow_credentials);
    }

    #[test]
    fn bad_origins_are_refused() {
        for bad in ["*", "https://app.example.com/", "null", "", "https://*.com"] {
            assert!(cors_layer(bad, |_| None).is_err(), "{bad:?}");
        }
        assert!(cors_layer("https://app.example.com,http://localhost:5173", |_| None).is_ok());
    }
}
