//! The documented path: `SentryConfig::init` binds the process-wide client,
//! `NewSentryLayer::new_from_top()` gives each request a hub from it. Alone
//! in its test binary, because `init` is global.

mod support;

use std::time::Duration;

use axum::{Router, body::Body, http::Request, http::StatusCode, routing::get};
use rampart_sentry::{RouteLabel, SentryConfig, SentryContextLayer};
use sentry_tower::{NewSentryLayer, SentryHttpLayer};
use support::{Ingest, WAIT, fetch, serve};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

async fn panicking() -> &'static str {
    panic!("kaput +44 7700 900123")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_from_the_environment_and_report() {
    let mut ingest = Ingest::start().await;
    let dsn = ingest.dsn();
    let config = SentryConfig::from_lookup(|name| match name {
        "SENTRY_DSN" => Some(dsn.clone()),
        "ENVIRONMENT" => Some("ci".into()),
        "SENTRY_TRACES_SAMPLE_RATE" => Some("0".into()),
        _ => None,
    })
    .unwrap()
    .default_release(sentry::release_name!());
    let guard = config.init().unwrap();
    assert!(guard.is_enabled());

    // Layers outside the router: no `MatchedPath` yet, the app's RouteLabel
    // from a request mapping stands in (a non-axum stack's router would set it).
    let routes = Router::new()
        .route("/boom", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/ready", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/panic", get(panicking));
    let app = ServiceBuilder::new()
        .layer(NewSentryLayer::<Request<Body>>::new_from_top())
        .layer(SentryHttpLayer::new())
        .map_request(|mut req: Request<Body>| {
            let label = req.uri().path().to_owned();
            req.extensions_mut().insert(RouteLabel::new(label));
            req
        })
        .layer(SentryContextLayer::new().ignore_route("/ready"))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CatchPanicLayer::new())
        .service(routes);
    let addr = serve(Router::new().fallback_service(app)).await;

    // An ignored route's 503 is no event (the next one is /boom's).
    assert_eq!(fetch(addr, "/ready", &[]).await.status, 503);
    let answer = fetch(addr, "/boom", &[]).await;
    assert_eq!(answer.status, 503);
    let (event, received) = ingest.next_event().await;
    assert_eq!(received.project, "42");
    assert_eq!(event.environment.as_deref(), Some("ci"));
    assert_eq!(
        event.release.as_deref(),
        Some(concat!("rampart-sentry@", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(event.tags["http.route"], "/boom");
    assert_eq!(event.tags["http.status_code"], "503");
    // The id SetRequestIdLayer made (further in) is read from the response.
    assert_eq!(
        event.tags["request_id"],
        answer.header("x-request-id").unwrap()
    );

    let answer = fetch(addr, "/panic", &[]).await;
    assert_eq!(answer.status, 500);
    let (event, received) = ingest.next_event().await;
    assert!(!received.raw.contains("7700 900123"), "{}", received.raw);
    assert_eq!(
        event.exception.values[0].value.as_deref(),
        Some("kaput [phone]")
    );
    assert_eq!(event.tags["http.route"], "/panic");

    let flushed = tokio::task::spawn_blocking(move || {
        let flushed = guard.flush(Some(WAIT));
        drop(guard);
        flushed
    })
    .await
    .unwrap();
    assert!(flushed);
    assert!(ingest.pending_events().is_empty());
    tokio::time::sleep(Duration::ZERO).await;
}
