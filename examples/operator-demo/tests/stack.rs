//! The Rampart layers as a client of the demo sees them: headers on every
//! response, CORS answered before the rate limit, a 429 that a browser can read.

use std::net::SocketAddr;

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response, StatusCode, header},
};
use operator_demo::{
    app::{AppState, Stack, app},
    stack::UNLIMITED_PATHS,
};
use rampart::ratelimit::{MemoryStore, Policy, RateLimitLayer};
use tower::ServiceExt;

const FRONTEND: &str = "http://localhost:5173";

fn demo(global: &str) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = Stack::default();
    stack.rate_limit = RateLimitLayer::builder(MemoryStore::new())
        .policy(
            Policy::parse("global", global)
                .unwrap()
                .except_paths(UNLIMITED_PATHS),
        )
        .build()
        .unwrap();
    (app(AppState::new(dir.path()), stack), dir)
}

fn from(peer: &str, request: axum::http::request::Builder) -> Request<Body> {
    let mut request = request.body(Body::empty()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.unwrap()
}

fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (router, _dir) = demo("1000/hour");
    for uri in ["/health", "/ready", "/nope"] {
        let response = send(&router, from("192.0.2.1:5000", Request::get(uri))).await;
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{uri}"
        );
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{uri}");
        assert_eq!(
            header(&response, "content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'"),
            "{uri}"
        );
        assert_eq!(header(&response, "x-xss-protection"), Some("0"), "{uri}");
        // Plain HTTP with no trusted proxy: HSTS would mean nothing.
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn preflight_from_the_frontend_is_answered_and_others_are_refused() {
    let (router, _dir) = demo("1000/hour");
    let preflight = |origin: &str| {
        from(
            "192.0.2.1:5000",
            Request::options("/api/v1/campaigns")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "authorization, content-type",
                ),
        )
    };
    let allowed = send(&router, preflight(FRONTEND)).await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some(FRONTEND)
    );
    assert_eq!(
        header(&allowed, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(header(&allowed, "x-content-type-options"), Some("nosniff"));

    let refused = send(&router, preflight("https://evil.example")).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .headers()
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        refused.headers()
    );
}

#[tokio::test]
async fn the_global_limit_answers_429_that_a_browser_can_read() {
    let (router, _dir) = demo("3/hour");
    let get = || {
        from(
            "198.51.100.7:4000",
            Request::get("/nope").header(header::ORIGIN, FRONTEND),
        )
    };
    for _ in 0..3 {
        assert_eq!(send(&router, get()).await.status(), StatusCode::NOT_FOUND);
    }
    let limited = send(&router, get()).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&limited, "retry-after").unwrap().parse().unwrap();
    assert!((1..=1200).contains(&retry_after), "{retry_after}");
    assert_eq!(
        header(&limited, "ratelimit-policy"),
        Some("\"global\";q=3;w=3600")
    );
    assert_eq!(
        header(&limited, "content-type"),
        Some("application/problem+json")
    );
    // Outer layers still ran: the page can read the 429, and it is hardened.
    assert_eq!(
        header(&limited, "access-control-allow-origin"),
        Some(FRONTEND)
    );
    assert_eq!(header(&limited, "x-content-type-options"), Some("nosniff"));
    assert!(limited.headers().contains_key("x-request-id"));

    // Another client has its own quota; the probes are never limited.
    let other = send(&router, from("198.51.100.8:4000", Request::get("/nope"))).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    for path in ["/health", "/ready"] {
        let probe = send(&router, from("198.51.100.7:4000", Request::get(path))).await;
        assert_eq!(probe.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_spoofed_forwarded_for_does_not_buy_a_new_quota() {
    let (router, _dir) = demo("2/hour");
    for spoofed in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let response = send(
            &router,
            from(
                "198.51.100.9:4000",
                Request::get("/nope").header("x-forwarded-for", spoofed),
            ),
        )
        .await;
        let expected = if spoofed.ends_with('3') {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(response.status(), expected, "{spoofed}");
    }
}
