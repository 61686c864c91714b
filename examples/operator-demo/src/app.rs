//! The application: its state, its routes, and the middleware stack around them.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    routing::get,
};
use rampart::{
    core::{ClientIpLayer, Problem},
    sentry::{
        Identity, SentryContextLayer, SentryIdentityLayer,
        sentry_tower::{NewSentryLayer, SentryHttpLayer},
    },
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    api::{self, ApiError},
    auth::{AuthArgs, LoginLimiter, PasswordPool, Principal, TokenIssuer},
    db::Db,
    gdpr::Gdpr,
    routes::{fallback, health, index},
    shutdown::Drain,
};

/// What every handler can reach. Cheap to clone: the state lives in an `Arc`.
///
/// # Example
///
/// ```
/// use operator_demo::app::AppState;
///
/// let state = AppState::new("./data");
/// assert_eq!(state.data_dir(), std::path::Path::new("./data"));
/// ```
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    data_dir: PathBuf,
    db: Option<Db>,
    tokens: Option<TokenIssuer>,
    login_limiter: LoginLimiter,
    passwords: PasswordPool,
    #[cfg(feature = "telephony")]
    telephony: api::Telephony,
    redis: Option<redis::aio::ConnectionManager>,
    ready_checks: Arc<health::ReadyChecks>,
    gdpr: Gdpr,
    drain: Arc<Drain>,
}

impl AppState {
    /// State for an app whose files live in `data_dir`, with no database
    /// yet (the API answers 503 until [`with_db`](Self::with_db)).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            inner: Arc::new(Inner {
                gdpr: Gdpr::new(&data_dir),
                data_dir,
                db: None,
                tokens: None,
                login_limiter: LoginLimiter::memory(AuthArgs::default().rate_limit_login),
                passwords: PasswordPool::default(),
                #[cfg(feature = "telephony")]
                telephony: api::Telephony::simulated(),
                redis: None,
                ready_checks: Arc::default(),
                drain: Arc::default(),
            }),
        }
    }

    /// With the database the API reads and writes.
    #[must_use]
    pub fn with_db(mut self, db: Db) -> Self {
        Arc::make_mut(&mut self.inner).db = Some(db);
        self
    }

    /// With the issuer of the tokens `POST /auth/login` hands out.
    #[must_use]
    pub fn with_tokens(mut self, tokens: TokenIssuer) -> Self {
        Arc::make_mut(&mut self.inner).tokens = Some(tokens);
        self
    }

    /// With the login limiter (`RATE_LIMIT_LOGIN`); the default counts 5
    /// attempts per 15 minutes in this process's memory.
    #[must_use]
    pub fn with_login_limiter(mut self, limiter: LoginLimiter) -> Self {
        Arc::make_mut(&mut self.inner).login_limiter = limiter;
        self
    }

    /// With the pool every argon2id hash runs in (`PASSWORD_HASH_*`); the
    /// default allows one per core and waits 300 ms for a slot.
    #[must_use]
    pub fn with_passwords(mut self, passwords: PasswordPool) -> Self {
        Arc::make_mut(&mut self.inner).passwords = passwords;
        self
    }

    /// With the telephony that sessions place calls through.
    #[cfg(feature = "telephony")]
    #[must_use]
    pub fn with_telephony(mut self, telephony: api::Telephony) -> Self {
        Arc::make_mut(&mut self.inner).telephony = telephony;
        self
    }

    /// With the Redis that `/ready` checks.
    #[must_use]
    pub fn with_redis(mut self, redis: redis::aio::ConnectionManager) -> Self {
        Arc::make_mut(&mut self.inner).redis = Some(redis);
        self
    }

    /// With the GDPR settings (grace period, hash key, mailer); the default
    /// waits 30 days, hashes with a random key and writes mail to
    /// `data_dir/mail`.
    #[must_use]
    pub fn with_gdpr(mut self, gdpr: Gdpr) -> Self {
        Arc::make_mut(&mut self.inner).gdpr = gdpr;
        self
    }

    /// The GDPR settings.
    pub fn gdpr(&self) -> &Gdpr {
        &self.inner.gdpr
    }

    /// The folder of the demo's files.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// The database, if the app has one.
    pub fn database(&self) -> Option<&Db> {
        self.inner.db.as_ref()
    }

    /// The Redis `/ready` checks, if any.
    pub fn redis(&self) -> Option<&redis::aio::ConnectionManager> {
        self.inner.redis.as_ref()
    }

    /// The shutdown's drain flag that `/ready` and the server share: every
    /// clone of this state sees the same one.
    pub fn drain(&self) -> &Arc<Drain> {
        &self.inner.drain
    }

    /// The single run of `/ready`'s checks.
    pub(crate) fn ready_checks(&self) -> &health::ReadyChecks {
        &self.inner.ready_checks
    }

    /// The database, or a 503 for the API when the app has none.
    pub(crate) fn db(&self) -> Result<&Db, ApiError> {
        self.database()
            .ok_or_else(|| ApiError::Unavailable("no database is configured".into()))
    }

    /// The token issuer, or a 503 when the app has none.
    pub(crate) fn tokens(&self) -> Result<&TokenIssuer, ApiError> {
        self.inner
            .tokens
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("no token issuer is configured".into()))
    }

    /// The telephony sessions use.
    #[cfg(feature = "telephony")]
    pub(crate) fn telephony(&self) -> &api::Telephony {
        &self.inner.telephony
    }

    /// Where password hashes run.
    pub(crate) fn passwords(&self) -> &PasswordPool {
        &self.inner.passwords
    }

    /// The login limiter (5 attempts per 15 minutes per client address
    /// and email by default).
    pub(crate) fn login_limiter(&self) -> &LoginLimiter {
        &self.inner.login_limiter
    }
}

/// The routes alone, without any middleware: what `--bare` serves.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{body::Body, http::Request};
/// use operator_demo::app::{AppState, routes};
/// use tower::ServiceExt;
///
/// let response = routes(AppState::new("./data"))
///     .oneshot(Request::get("/health").body(Body::empty()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(index::index))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .merge(api::auth_routes())
        .merge(api::api_routes())
        .merge(api::docs())
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .with_state(state)
}

pub use crate::stack::Stack;

/// The routes inside the full middleware stack: what the demo serves.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{body::Body, http::Request};
/// use operator_demo::app::{AppState, Stack, app};
/// use tower::ServiceExt;
///
/// let response = app(AppState::new("./data"), Stack::default())
///     .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(response.status(), 404);
/// assert!(response.headers().contains_key("x-request-id"));
/// # }
/// ```
pub fn app(state: AppState, stack: Stack) -> Router {
    // Outermost first; see docs/architecture.md for the order and why.
    let sentry = stack.sentry;
    let layers = ServiceBuilder::new()
        // 1. Sentry, only with a DSN (sentry-tower's layers allocate even
        //    when off): a hub per request, request data and sampled traces;
        //    then the request's context (route, request id) and 5xx events.
        .option_layer(sentry.then(NewSentryLayer::<Request<Body>>::new_from_top))
        .option_layer(sentry.then(|| SentryHttpLayer::new().enable_transaction()))
        .layer(SentryContextLayer::new().ignore_route("/ready"))
        // 2. request id, trace (tower-http)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        // 3. counts and times everything below, rejections included, by route
        .layer(stack.metrics.layer())
        // 4. who the client is, once, for every layer below
        .layer(ClientIpLayer::from_config(stack.client_ip))
        // 5. security headers, on every response including rejections
        .layer(stack.security_headers)
        // 6. CORS: answers preflights; a 429 below still carries its headers
        .layer(stack.cors)
        //    a request not done in time: 408 (body still missing) or 503,
        //    counted above and carrying the headers; rate limits and all
        //    below run within it
        .layer(stack.request_timeout)
        // 7. edge rate limits, per client address
        .layer(stack.rate_limit)
        //    and the probes' own, in memory
        .layer(stack.probe_rate_limit)
        // 8. authentication: a verified bearer token becomes a Principal
        .layer(stack.auth)
        //    who it is, for Sentry: the user id and the tenant, never more
        .layer(SentryIdentityLayer::from_extension(|p: &Principal| {
            Identity::user(&p.user_id).with_tenant(&p.org_id)
        }))
        // 9. the principal's organization as the tenant: extension,
        //    current_tenant(), a `tenant` span; 404 for a vanished one
        .layer(stack.tenant)
        // 10. per-user limit on /api routes, keyed by the principal
        .layer(stack.api_rate_limit)
        // 11. the response cache, per tenant or principal; under it, every
        //     write invalidates what it changed before its answer leaves
        .layer(stack.cache.clone())
        .layer(axum::middleware::from_fn({
            let consistency = crate::cache::Consistency::new(&stack.cache, stack.cache_enabled);
            move |request, next| crate::cache::invalidate_writes(consistency.clone(), request, next)
        }))
        // A panicking handler: a 500 problem+json for the client, and one
        // Sentry event with the request's context.
        .layer(CatchPanicLayer::custom(|_| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR).into_response::<Body>()
        }));
    routes(state)
        // Inside the stack, so that its IP allow-list sees the resolved client.
        .route_service("/metrics", stack.metrics_endpoint)
        .layer(layers)
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        http::{Request, StatusCode, header},
    };
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    async fn send(router: Router, method: &str, uri: &str) -> (StatusCode, String, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, content_type, body)
    }

    fn both(state: &AppState) -> [Router; 2] {
        [routes(state.clone()), app(state.clone(), Stack::default())]
    }

    #[tokio::test]
    async fn metrics_count_requests_by_route_template() {
        let dir = tempfile::tempdir().unwrap();
        let router = app(AppState::new(dir.path()), Stack::default());
        for uri in ["/health", "/health", "/no/such/path/42"] {
            let (status, _, _) = send(router.clone(), "GET", uri).await;
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
        }
        let response = router
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = std::str::from_utf8(&body).unwrap();
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/health",status="200"} 2"#),
            "{text}"
        );
        // The unknown path is one label, not a series of its own.
        assert!(text.contains(r#"route="unmatched""#), "{text}");
        assert!(!text.contains("/no/such/path"), "{text}");
        assert!(text.contains("rampart_ratelimit_decisions_total"), "{text}");
    }

    #[tokio::test]
    async fn health_is_ok_with_and_without_the_stack() {
        let dir = tempfile::tempdir().unwrap();
        for router in both(&AppState::new(dir.path())) {
            let (status, content_type, body) = send(router, "GET", "/health").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(content_type, "application/json");
            assert_eq!(body, serde_json::json!({"status": "ok"}));
        }
    }

    #[tokio::test]
    async fn index_names_the_service() {
        let dir = tempfile::tempdir().unwrap();
        for router in both(&AppState::new(dir.path())) {
            let (status, content_type, body) = send(router, "GET", "/").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(content_type, "application/json");
            assert_eq!(body["service"], "operator-demo");
            assert_eq!(body["links"]["health"], "/health");
        }
    }

    #[tokio::test]
    async fn ready_reports_each_check() {
        let dir = tempfile::tempdir().unwrap();
        let (status, _, body) = send(
            app(AppState::new(dir.path()), Stack::default()),
            "GET",
            "/ready",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");
        assert_eq!(body["checks"]["data_dir"], "ok");
        // The probe file is not left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn ready_is_503_problem_when_data_dir_is_unusable() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be: not writable even as root.
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"x").unwrap();
        for state in [
            AppState::new(&not_a_dir),
            AppState::new(dir.path().join("missing")),
        ] {
            let (status, content_type, body) =
                send(app(state, Stack::default()), "GET", "/ready").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(content_type, "application/problem+json");
            assert_eq!(body["status"], 503);
            // The state only: the reason is for the log.
            assert_eq!(body["checks"]["data_dir"], "failing");
        }
    }

    #[tokio::test]
    async fn unknown_route_is_404_problem() {
        let dir = tempfile::tempdir().unwrap();
        for uri in ["/nope", "/health/", "/health/x", "/%FF", "/ready?x=1&x=2"] {
            for router in both(&AppState::new(dir.path())) {
                let (status, content_type, body) = send(router, "GET", uri).await;
                if uri.starts_with("/ready?") {
                    assert_eq!(status, StatusCode::OK, "{uri}");
                    continue;
                }
                assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
                assert_eq!(content_type, "application/problem+json", "{uri}");
                assert_eq!(body["status"], 404);
            }
        }
    }

    #[tokio::test]
    async fn wrong_method_is_405_problem() {
        let dir = tempfile::tempdir().unwrap();
        for method in ["POST", "DELETE", "PUT"] {
            let (status, content_type, body) = send(
                app(AppState::new(dir.path()), Stack::default()),
                method,
                "/health",
            )
            .await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(content_type, "application/problem+json");
            assert_eq!(body["status"], 405);
        }
    }

    #[tokio::test]
    async fn head_health_has_no_body() {
        let dir = tempfile::tempdir().unwrap();
        let (status, _, body) = send(
            app(AppState::new(dir.path()), Stack::default()),
            "HEAD",
            "/health",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, Value::Null);
    }
}
