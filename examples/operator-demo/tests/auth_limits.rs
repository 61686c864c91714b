//! The login limit (per client address and email) and the per-user API
//! limit, on the memory store and, when `REDIS_URL` is set, on Redis
//! through the same `FallbackStore` the demo's edge limiter uses.

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    response::Response,
    routing::get,
};
use http_body_util::BodyExt;
use operator_demo::auth::{
    AuthLayer, Keys, LoginLimiter, Principal, Role, TokenIssuer, TokenSettings, TokenVerifier,
    api_rate_limit_layer,
};
use rampart::ratelimit::{FallbackStore, MemoryStore, Quota, RedisStore, Store};
use serde_json::Value;
use tower::ServiceExt;

fn quota(text: &str) -> Quota {
    text.parse().unwrap()
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

async fn json(response: Response) -> (axum::http::response::Parts, Value) {
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts, serde_json::from_slice(&bytes).unwrap())
}

/// The store the tests run against: Redis behind the fallback breaker when
/// `REDIS_URL` is set (each test with its own policy-name-free key space is
/// not needed: keys carry a per-run random email), memory otherwise.
async fn stores() -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut stores: Vec<(&'static str, Arc<dyn Store>)> =
        vec![("memory", Arc::new(MemoryStore::new()))];
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let client = redis::Client::open(url).unwrap();
            let manager = tokio::time::timeout(
                Duration::from_secs(30),
                redis::aio::ConnectionManager::new(client),
            )
            .await
            .expect("Redis did not answer within 30 s")
            .expect("cannot connect to REDIS_URL");
            // A generous timeout: these tests count what Redis admits, and on a
            // loaded machine the default 50 ms sends some decisions to the local
            // fallback, which admits on its own (that path has tests of its own).
            stores.push((
                "redis",
                Arc::new(
                    FallbackStore::new(RedisStore::new(manager)).timeout(Duration::from_secs(5)),
                ),
            ));
        }
        Err(_) if std::env::var("RAMPART_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("REDIS_URL is required (RAMPART_REQUIRE_SERVICES=1)")
        }
        Err(_) => skip_notice(),
    }
    stores
}

#[allow(clippy::print_stderr, reason = "tells why Redis was not tested")]
fn skip_notice() {
    eprintln!("REDIS_URL unset: the login limit is tested on memory only");
}

/// A limiter for the tests of the per-(address, email) limit: the
/// per-address one is out of the way (Redis keeps its counts across runs,
/// and these tests use fixed addresses).
fn pair_limiter(store: Arc<dyn Store>, pair: &str) -> LoginLimiter {
    LoginLimiter::new(store, quota(pair)).per_address(quota("1000000/second"))
}

/// An address no earlier run used, in its own /64.
fn unique_ip() -> Option<IpAddr> {
    let [a, b, c]: [u16; 3] = rand::random();
    ip(&format!("2001:db8:{a:x}:{b:x}::{c:x}"))
}

/// An email no earlier run used: Redis keeps counts across runs.
fn unique_email(name: &str) -> String {
    format!("{name}-{:016x}@example.com", rand::random::<u64>())
}

#[tokio::test]
async fn sixth_attempt_gets_429_and_nobody_else_is_affected() {
    for (store_name, store) in stores().await {
        let limiter = pair_limiter(store, "5/15minutes");
        let email = unique_email("ada");
        let client = ip("198.51.100.7");
        for attempt in 1..=5 {
            assert!(
                limiter.check(client, &email).await.is_ok(),
                "{store_name}: attempt {attempt}"
            );
        }
        // The same account, spelled differently, from the same address.
        let shouted = format!("  {}  ", email.to_uppercase());
        let response = limiter.check(client, &shouted).await.unwrap_err();
        let (parts, body) = json(response).await;
        assert_eq!(parts.status, StatusCode::TOO_MANY_REQUESTS, "{store_name}");
        let retry: u64 = parts.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // 15 minutes / 5 = one attempt back every 180 s.
        assert!(
            (170..=180).contains(&retry),
            "{store_name}: retry-after {retry}"
        );
        assert_eq!(parts.headers["ratelimit-policy"], "\"login\";q=5;w=900");
        assert_eq!(
            parts.headers["ratelimit"],
            format!("\"login\";r=0;t={retry}").as_str()
        );
        assert_eq!(parts.headers["content-type"], "application/problem+json");
        assert_eq!(body["status"], 429);
        assert_eq!(body["policy"], "login");
        assert_eq!(body["retry_after"], retry);

        // Other accounts from that address, the account from elsewhere.
        assert!(limiter.check(client, &unique_email("grace")).await.is_ok());
        assert!(limiter.check(ip("198.51.100.8"), &email).await.is_ok());
        assert!(limiter.check(ip("2001:db8:1::7"), &email).await.is_ok());
        // Still limited for the pair itself.
        assert!(limiter.check(client, &email).await.is_err());
    }
}

#[tokio::test]
async fn exactly_the_quota_passes_under_50_concurrent_attempts() {
    for (store_name, store) in stores().await {
        let limiter = pair_limiter(store, "5/15minutes");
        let email = unique_email("burst");
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let limiter = limiter.clone();
                let email = email.clone();
                tokio::spawn(async move { limiter.check(ip("203.0.113.50"), &email).await.is_ok() })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        assert_eq!(admitted, 5, "{store_name}");
    }
}

#[tokio::test]
async fn the_limit_comes_back_after_the_retry_after() {
    let limiter = LoginLimiter::memory(quota("1/2seconds"));
    let client = ip("192.0.2.44");
    assert!(limiter.check(client, "x@example.com").await.is_ok());
    let response = limiter.check(client, "x@example.com").await.unwrap_err();
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(200)).await;
    assert!(limiter.check(client, "x@example.com").await.is_ok());
}

#[tokio::test]
async fn requests_without_a_client_address_share_one_count() {
    let limiter = LoginLimiter::memory(quota("2/minute"));
    assert!(limiter.check(None, "a@example.com").await.is_ok());
    assert!(limiter.check(None, "a@example.com").await.is_ok());
    assert_eq!(
        limiter
            .check(None, "a@example.com")
            .await
            .unwrap_err()
            .status(),
        429
    );
}

fn api_app(verifier: TokenVerifier, store: impl Store, quota: Quota) -> Router {
    Router::new()
        .route(
            "/api/v1/companies",
            get(|p: Principal| async move { p.user_id }),
        )
        .route("/auth/me", get(|p: Principal| async move { p.user_id }))
        .route("/health", get(|| async { "ok" }))
        // Outermost last: AuthLayer runs first, then the per-user limit.
        .layer(api_rate_limit_layer(store, quota).unwrap())
        .layer(AuthLayer::new(verifier))
}

async fn get_with(app: &Router, path: &str, token: Option<&str>) -> Response {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn api_limit_counts_per_user_behind_the_auth_layer() {
    let keys = Keys::generate();
    let settings = TokenSettings::default();
    let issuer = TokenIssuer::new(&keys, &settings);
    let token = |user: &str| {
        issuer
            .issue(&Principal {
                user_id: user.into(),
                org_id: "org-1".into(),
                role: Role::Agent,
            })
            .unwrap()
            .access_token
    };
    let (ada, grace) = (token("ada"), token("grace"));
    let app = api_app(
        TokenVerifier::new(&keys, &settings),
        MemoryStore::new(),
        quota("3/minute"),
    );

    for i in 0..3 {
        let response = get_with(&app, "/api/v1/companies", Some(&ada)).await;
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(response.headers()["ratelimit-policy"], "\"api\";q=3;w=60");
    }
    let (parts, body) = json(get_with(&app, "/api/v1/companies", Some(&ada)).await).await;
    assert_eq!(parts.status, 429);
    assert_eq!(parts.headers["retry-after"], "20");
    assert_eq!(body["policy"], "api");

    // Another user has a quota of its own; paths outside /api are not counted.
    assert_eq!(
        get_with(&app, "/api/v1/companies", Some(&grace))
            .await
            .status(),
        200
    );
    let me = get_with(&app, "/auth/me", Some(&ada)).await;
    assert_eq!(me.status(), 200);
    assert!(me.headers().get("ratelimit").is_none());

    // Anonymous: not limited by the per-user policy (the handler's 401 stands).
    for _ in 0..5 {
        assert_eq!(
            get_with(&app, "/api/v1/companies", None).await.status(),
            401
        );
    }
    assert_eq!(get_with(&app, "/health", None).await.status(), 200);
}

#[tokio::test]
async fn one_address_spraying_emails_gets_its_burst() {
    for (store_name, store) in stores().await {
        let limiter =
            LoginLimiter::new(store, quota("5/15minutes")).per_address(quota("60/minute;burst=10"));
        let sprayer = unique_ip();
        for n in 0..10 {
            assert!(
                limiter
                    .check(sprayer, &unique_email(&format!("spray{n}")))
                    .await
                    .is_ok(),
                "{store_name}: attempt {n}"
            );
        }
        let response = limiter
            .check(sprayer, &unique_email("spray10"))
            .await
            .unwrap_err();
        let (parts, body) = json(response).await;
        assert_eq!(parts.status, StatusCode::TOO_MANY_REQUESTS, "{store_name}");
        assert_eq!(body["policy"], "login_address", "{store_name}");
        assert_eq!(
            parts.headers["ratelimit-policy"],
            "\"login_address\";q=60;w=60"
        );
        let retry: u64 = parts.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=2).contains(&retry),
            "{store_name}: retry-after {retry}"
        );
        // Another address is not affected.
        assert!(
            limiter
                .check(unique_ip(), &unique_email("other"))
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn an_attempt_refused_by_one_limit_is_charged_to_neither() {
    for (store_name, store) in stores().await {
        let limiter =
            LoginLimiter::new(store, quota("1/15minutes")).per_address(quota("60/minute;burst=3"));
        let client = unique_ip();
        let email = unique_email("ada");
        assert!(limiter.check(client, &email).await.is_ok());
        // Refused per (address, email) twenty times: the address is not charged.
        for _ in 0..20 {
            let (parts, body) = json(limiter.check(client, &email).await.unwrap_err()).await;
            assert_eq!(parts.status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(body["policy"], "login", "{store_name}");
        }
        assert!(
            limiter.check(client, &unique_email("grace")).await.is_ok(),
            "{store_name}"
        );
        assert!(
            limiter.check(client, &unique_email("alan")).await.is_ok(),
            "{store_name}"
        );
    }
}
