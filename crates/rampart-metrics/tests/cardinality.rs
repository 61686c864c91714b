//! 100,000 requests with random paths and methods leave the number of
//! series where a handful of requests put it: no client input becomes a
//! label value.

#![cfg(feature = "axum")]

use axum::{Router, body::Body, routing::get};
use http::{Method, Request};
use http_body_util::BodyExt;
use rampart_metrics::{Format, Metrics};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tower::ServiceExt;

const STANDARD: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT",
];

fn app(metrics: &Metrics) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async { "user" }).post(|| async { "made" }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(metrics.layer())
}

/// Samples in the exposition: one line per series (a histogram's buckets
/// included), which is what Prometheus stores.
fn series(metrics: &Metrics) -> usize {
    metrics
        .encode(Format::Text)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count()
}

fn random_token(rng: &mut StdRng, alphabet: &[u8], len: std::ops::Range<usize>) -> String {
    let len = rng.random_range(len);
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

fn random_request(rng: &mut StdRng) -> Request<Body> {
    const PATH: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-._~%";
    const TOKEN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&'*+-.^_`|~";
    let method = match rng.random_range(0..3) {
        0 => Method::from_bytes(STANDARD[rng.random_range(0..STANDARD.len())].as_bytes()).unwrap(),
        _ => Method::from_bytes(random_token(rng, TOKEN, 1..12).as_bytes()).unwrap(),
    };
    let path = match rng.random_range(0..4) {
        // Matched: the id is random, the template is not.
        0 => format!("/users/{}", random_token(rng, PATH, 1..20)),
        1 => "/health".to_owned(),
        _ => {
            let segments = rng.random_range(1..5);
            (0..segments)
                .map(|_| format!("/{}", random_token(rng, PATH, 1..16)))
                .collect()
        }
    };
    let path = path.replace('%', "%25");
    Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap()
}

async fn send(app: &Router, request: Request<Body>) {
    let response = app.clone().oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();
}

#[tokio::test]
async fn random_paths_and_methods_add_no_series() {
    let metrics = Metrics::new();
    let app = app(&metrics);

    // Every label value a request can reach: each method label on each
    // route and on a path that matches none.
    for method in STANDARD.iter().chain(&["BREW"]) {
        for path in ["/users/1", "/health", "/nowhere"] {
            let request = Request::builder()
                .method(*method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            send(&app, request).await;
        }
    }
    let before = series(&metrics);
    assert!(before > 0);

    let mut rng = StdRng::seed_from_u64(0x5eed);
    for _ in 0..100_000 {
        send(&app, random_request(&mut rng)).await;
    }
    let text = metrics.encode(Format::Text);
    assert_eq!(series(&metrics), before, "{text}");

    // And the requests were all counted.
    let counted: f64 = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(counted, 100_000.0 + 30.0);
    assert!(text.contains(r#"method="OTHER",route="unmatched""#));
    assert!(text.contains(r#"route="/users/{id}""#));
}
