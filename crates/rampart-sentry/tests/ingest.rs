//! End to end over real sockets: an axum app with the Sentry layers serves
//! on 127.0.0.1, its Sentry client sends to a loopback ingest endpoint, and
//! the tests read the envelopes that arrived.
//!
//! Each test has its own client and hub (given to sentry-tower's layer as
//! the hub provider), so tests run in parallel without a global `init`.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rampart_sentry::{Identity, SentryContextLayer, SentryIdentityLayer};
use sentry::{Breadcrumb, Hub, Level};
use sentry_tower::{NewSentryLayer, SentryHttpLayer, SentryLayer};
use support::{
    BEARER, COOKIE, Ingest, Principal, assert_no_more_events, assert_no_secrets, client,
    client_tracing, fetch, flush, serve, with_principal,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

/// The app's authentication as axum middleware.
async fn authenticate(request: Request<Body>, next: Next) -> Response {
    next.run(with_principal(request)).await
}

async fn failing_call() -> impl IntoResponse {
    sentry::add_breadcrumb(Breadcrumb {
        message: Some("looked up alice@example.com, +49 30 1234567".into()),
        ..Breadcrumb::default()
    });
    (StatusCode::INTERNAL_SERVER_ERROR, "database down")
}

async fn panicking() -> &'static str {
    panic!("boom for alice@example.com")
}

async fn reported() -> impl IntoResponse {
    sentry::capture_message("payment failed for bob@example.org", Level::Error);
    StatusCode::BAD_GATEWAY
}

fn routes() -> Router {
    Router::new()
        .route("/calls/{id}", get(failing_call))
        .route("/panic/{id}", get(panicking))
        .route("/reported", get(reported))
        .route("/ok", get(|| async { "ok" }))
        .route("/users/{id}", get(|| async { "a user" }))
}

/// The stack of DESIGN's layer 1, then request id, authentication, identity
/// and panic catching, with `hub` as every request's parent hub.
fn app(hub: Arc<Hub>) -> Router {
    app_with(hub, SentryHttpLayer::new())
}

fn app_with(hub: Arc<Hub>, http: SentryHttpLayer) -> Router {
    let provider = move |_: &Request<Body>| Arc::new(Hub::new_from_top(&hub));
    routes().layer(
        ServiceBuilder::new()
            .layer(SentryLayer::<_, Arc<Hub>, Request<Body>>::new(provider))
            .layer(http)
            .layer(SentryContextLayer::new())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(middleware::from_fn(authenticate))
            .layer(SentryIdentityLayer::from_extension(|p: &Principal| {
                Identity::user(&p.user_id).with_tenant(&p.org_id)
            }))
            .layer(CatchPanicLayer::new()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_is_an_event_with_context_and_without_secrets() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client(&ingest);
    let addr = serve(app(hub)).await;

    let answer = fetch(
        addr,
        "/calls/7?email=alice%40example.com&access_token=abc123xyz&page=2",
        &[
            ("authorization", BEARER),
            ("cookie", COOKIE),
            ("x-api-key", "k-99887766"),
            ("user-agent", "ingest-test"),
        ],
    )
    .await;
    assert_eq!(answer.status, 500);
    let request_id = answer
        .header("x-request-id")
        .expect("x-request-id")
        .to_owned();

    let (event, received) = ingest.next_event().await;
    assert_eq!(received.project, "42");
    assert_no_secrets(&received.raw);
    assert_eq!(event.level, Level::Error);
    assert_eq!(
        event.message.as_deref(),
        Some("GET /calls/{id} answered 500 Internal Server Error")
    );
    let user = event.user.as_ref().expect("a user");
    assert_eq!(user.id.as_deref(), Some("u-17"));
    assert_eq!((user.email.as_ref(), user.username.as_ref()), (None, None));
    assert_eq!(event.tags["tenant"], "org-3");
    assert_eq!(event.tags["http.route"], "/calls/{id}");
    assert_eq!(event.tags["http.method"], "GET");
    assert_eq!(event.tags["http.status_code"], "500");
    assert_eq!(event.tags["request_id"], request_id);
    assert_eq!(event.environment.as_deref(), Some("test"));

    let request = event
        .request
        .as_ref()
        .expect("request data from SentryHttpLayer");
    let headers: Vec<String> = request
        .headers
        .keys()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    for gone in ["authorization", "cookie", "x-api-key"] {
        assert!(!headers.contains(&gone.to_owned()), "{gone} in {headers:?}");
    }
    assert!(headers.contains(&"user-agent".to_owned()), "{headers:?}");
    let url = request.url.as_ref().expect("url").to_string();
    assert!(url.contains("/calls/7"), "{url}");
    assert!(url.contains("email=[email]"), "{url}");
    assert!(url.contains("access_token=[Filtered]"), "{url}");
    assert!(url.contains("page=2"), "{url}");

    let crumb = event
        .breadcrumbs
        .values
        .last()
        .expect("the handler's breadcrumb");
    assert_eq!(crumb.message.as_deref(), Some("looked up [email], [phone]"));

    assert_no_more_events(&mut ingest, &client, "one event per request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_one_event_with_context_and_the_client_gets_500() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client(&ingest);
    let addr = serve(app(hub)).await;

    let answer = fetch(
        addr,
        "/panic/9",
        &[("authorization", BEARER), ("cookie", COOKIE)],
    )
    .await;
    assert_eq!(answer.status, 500);
    let request_id = answer
        .header("x-request-id")
        .expect("x-request-id")
        .to_owned();

    let (event, received) = ingest.next_event().await;
    assert_no_secrets(&received.raw);
    let exception = event
        .exception
        .values
        .first()
        .expect("the panic as an exception");
    assert_eq!(exception.value.as_deref(), Some("boom for [email]"));
    assert_eq!(event.level, Level::Fatal);
    assert_eq!(
        event.user.as_ref().and_then(|u| u.id.as_deref()),
        Some("u-17")
    );
    assert_eq!(event.tags["tenant"], "org-3");
    assert_eq!(event.tags["http.route"], "/panic/{id}");
    assert_eq!(event.tags["request_id"], request_id);
    assert!(
        event.request.is_some(),
        "request data on the panic event too"
    );

    assert_no_more_events(
        &mut ingest,
        &client,
        "the caught panic's 500 was reported again",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_own_event_is_not_doubled_by_its_5xx() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client(&ingest);
    let addr = serve(app(hub)).await;

    let answer = fetch(addr, "/reported", &[("authorization", BEARER)]).await;
    assert_eq!(answer.status, 502);
    let (event, received) = ingest.next_event().await;
    assert_no_secrets(&received.raw);
    assert_eq!(event.message.as_deref(), Some("payment failed for [email]"));
    assert_eq!(event.tags["tenant"], "org-3");
    assert_eq!(event.tags["http.route"], "/reported");
    assert_no_more_events(&mut ingest, &client, "an event too many").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_and_successes() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client(&ingest);
    let addr = serve(app(hub)).await;

    // A success sends nothing.
    assert_eq!(
        fetch(addr, "/ok", &[("authorization", BEARER)])
            .await
            .status,
        200
    );
    assert_no_more_events(&mut ingest, &client, "an event too many").await;

    // No principal: an event without user or tenant, still with route and id.
    let answer = fetch(addr, "/calls/1", &[("x-request-id", "req-abc-1")]).await;
    assert_eq!(answer.status, 500);
    let (event, _) = ingest.next_event().await;
    assert!(event.user.is_none(), "{:?}", event.user);
    assert!(!event.tags.contains_key("tenant"));
    assert_eq!(event.tags["http.route"], "/calls/{id}");
    assert_eq!(event.tags["request_id"], "req-abc-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_keep_their_own_user() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client(&ingest);
    let addr = serve(app(hub)).await;

    let mut tasks = Vec::new();
    for n in 0..8 {
        tasks.push(tokio::spawn(async move {
            let bearer = format!("Bearer user-{n}:org-{n}:x");
            fetch(
                addr,
                &format!("/calls/{n}"),
                &[("authorization", bearer.as_str())],
            )
            .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().status, 500);
    }
    flush(&client).await;
    let mut seen = Vec::new();
    for _ in 0..8 {
        let (event, _) = ingest.next_event().await;
        let user = event.user.and_then(|u| u.id).unwrap();
        let n = user.strip_prefix("user-").unwrap().to_owned();
        assert_eq!(event.tags["tenant"], format!("org-{n}"));
        seen.push(n);
    }
    seen.sort();
    assert_eq!(seen, ["0", "1", "2", "3", "4", "5", "6", "7"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_carry_a_scrubbed_request_and_the_route_as_name() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client_tracing(&ingest, 1.0);
    let addr = serve(app_with(hub, SentryHttpLayer::new().enable_transaction())).await;

    let answer = fetch(
        addr,
        "/users/alice@example.com?phone=%2B4930123456&access_token=abc123xyz&page=2",
        &[
            ("authorization", BEARER),
            ("cookie", COOKIE),
            ("x-api-key", "k-99887766"),
        ],
    )
    .await;
    assert_eq!(answer.status, 200);
    let (transaction, received) = ingest.next_transaction().await;
    assert_no_secrets(&received.raw);
    assert!(!received.raw.contains("4930123456"), "{}", received.raw);
    assert_eq!(transaction.name.as_deref(), Some("GET /users/{id}"));
    let request = transaction.request.as_ref().expect("request data");
    let url = request.url.as_ref().expect("url").to_string();
    assert!(url.contains("/users/[email]"), "{url}");
    assert!(url.contains("page=2"), "{url}");
    assert!(
        request
            .headers
            .keys()
            .all(|h| !h.eq_ignore_ascii_case("authorization"))
    );
    flush(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatched_transaction_is_named_by_a_fixed_label_not_its_path() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client_tracing(&ingest, 1.0);
    let addr = serve(app_with(hub, SentryHttpLayer::new().enable_transaction())).await;

    let secret = "rst-9f8e7d6c5b4a";
    let answer = fetch(addr, &format!("/reset/{secret}"), &[]).await;
    assert_eq!(answer.status, 404);
    let (transaction, received) = ingest.next_transaction().await;
    // sentry-tower named it `GET /reset/rst-...`; the URL in the request
    // data stays (scrubbed as text, as an event's).
    assert_eq!(transaction.name.as_deref(), Some("GET <unmatched>"));
    assert!(
        !received.raw.contains(&format!("GET /reset/{secret}")),
        "{}",
        received.raw
    );
    flush(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_the_layers_pass_through() {
    // No client anywhere in this binary's process hub: Sentry is off.
    let identified = Arc::new(AtomicUsize::new(0));
    let counter = identified.clone();
    let app = routes().layer(
        ServiceBuilder::new()
            .layer(NewSentryLayer::<Request<Body>>::new_from_top())
            .layer(SentryHttpLayer::new())
            .layer(SentryContextLayer::new())
            .layer(middleware::from_fn(authenticate))
            .layer(SentryIdentityLayer::from_extension(move |p: &Principal| {
                counter.fetch_add(1, Ordering::Relaxed);
                Identity::user(&p.user_id)
            }))
            .layer(CatchPanicLayer::new()),
    );
    let addr = serve(app).await;
    assert_eq!(
        fetch(addr, "/calls/3", &[("authorization", BEARER)])
            .await
            .status,
        500
    );
    assert_eq!(
        fetch(addr, "/ok", &[("authorization", BEARER)])
            .await
            .status,
        200
    );
    assert_eq!(
        identified.load(Ordering::Relaxed),
        0,
        "identify ran while Sentry was off"
    );
    tokio::time::sleep(Duration::from_millis(0)).await;
}
