//! An inner service that fails with `Err` instead of answering a 5xx (a
//! proxy, a client of another service): one event per request, with the
//! request's context, its text scrubbed. Over real sockets, as in `ingest`:
//! the app serves on 127.0.0.1 and its client sends to a loopback ingest
//! endpoint.

mod support;

use std::{fmt, sync::Arc};

use axum::{
    BoxError, Router,
    body::Body,
    error_handling::HandleErrorLayer,
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};
use rampart_sentry::{Identity, SentryContextLayer, SentryIdentityLayer};
use sentry::{Hub, Level};
use sentry_tower::{SentryHttpLayer, SentryLayer};
use support::{
    BEARER, COOKIE, Ingest, Principal, assert_no_more_events, assert_no_secrets, client, fetch,
    serve, with_principal,
};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// What the upstream said, personal data and a credential included: the
/// error's text must reach Sentry scrubbed.
#[derive(Debug)]
struct UpstreamError;

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "upstream refused the call for alice@example.com (+49 30 1234567) \
             with Bearer s3cr3tT0kenValue",
        )
    }
}

impl std::error::Error for UpstreamError {}

/// The service behind the layers, by the last path segment: `down` fails,
/// `reported` captures an event of its own and then fails, `missing` and
/// `invalid` answer 404 and 422.
async fn upstream(request: Request<Body>) -> Result<Response, BoxError> {
    match request.uri().path().rsplit('/').next() {
        Some("down") => Err(UpstreamError.into()),
        Some("reported") => {
            sentry::capture_message("upstream said no to bob@example.org", Level::Warning);
            Err(UpstreamError.into())
        }
        Some("missing") => Ok(StatusCode::NOT_FOUND.into_response()),
        Some("invalid") => Ok(StatusCode::UNPROCESSABLE_ENTITY.into_response()),
        _ => Ok("ok".into_response()),
    }
}

/// DESIGN's layer 1 and request ids around the upstream service; outermost,
/// the error becomes the client's 502 (axum serves only `Infallible`
/// services), outside the Sentry layers, which see the `Err` itself.
fn app(hub: Arc<Hub>, context: SentryContextLayer) -> Router {
    let provider = move |_: &Request<Body>| Arc::new(Hub::new_from_top(&hub));
    let stack = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: BoxError| async {
            (StatusCode::BAD_GATEWAY, "upstream failed")
        }))
        .layer(SentryLayer::<_, Arc<Hub>, Request<Body>>::new(provider))
        .layer(SentryHttpLayer::new())
        .layer(context)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .map_request(with_principal)
        .layer(SentryIdentityLayer::from_extension(|p: &Principal| {
            Identity::user(&p.user_id).with_tenant(&p.org_id)
        }))
        .service_fn(upstream);
    Router::new().route_service("/upstream/{id}", stack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inner_error_is_one_event_with_context_and_scrubbed() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client(&ingest);
    let addr = serve(app(hub, SentryContextLayer::new())).await;

    let answer = fetch(
        addr,
        "/upstream/down?email=alice%40example.com&access_token=abc123xyz",
        &[
            ("authorization", BEARER),
            ("cookie", COOKIE),
            ("x-request-id", "req-err-1"),
        ],
    )
    .await;
    assert_eq!(answer.status, 502);

    let (event, received) = ingest.next_event().await;
    assert_no_secrets(&received.raw);
    assert_eq!(event.level, Level::Error);
    assert_eq!(
        event.message.as_deref(),
        Some(
            "GET /upstream/{id} failed: upstream refused the call for [email] ([phone]) with Bearer [Filtered]"
        )
    );
    let user = event.user.as_ref().expect("a user");
    assert_eq!(user.id.as_deref(), Some("u-17"));
    assert_eq!((user.email.as_ref(), user.username.as_ref()), (None, None));
    assert_eq!(event.tags["tenant"], "org-3");
    assert_eq!(event.tags["http.route"], "/upstream/{id}");
    assert_eq!(event.tags["http.method"], "GET");
    assert_eq!(event.tags["request_id"], "req-err-1");
    assert!(
        !event.tags.contains_key("http.status_code"),
        "{:?}",
        event.tags
    );
    assert_eq!(event.transaction.as_deref(), Some("GET /upstream/{id}"));
    let request = event.request.as_ref().expect("request data");
    let url = request.url.as_ref().expect("url").to_string();
    assert!(url.contains("email=[email]"), "{url}");
    assert!(url.contains("access_token=[Filtered]"), "{url}");
    assert!(
        request
            .headers
            .keys()
            .all(|h| !h.eq_ignore_ascii_case("authorization") && !h.eq_ignore_ascii_case("cookie")),
        "{:?}",
        request.headers
    );

    assert_no_more_events(&mut ingest, &client, "one event per request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_send_nothing_and_a_reported_error_is_not_doubled() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client(&ingest);
    let addr = serve(app(hub, SentryContextLayer::new())).await;

    for (path, status) in [("/upstream/missing", 404), ("/upstream/invalid", 422)] {
        assert_eq!(
            fetch(addr, path, &[("authorization", BEARER)]).await.status,
            status
        );
    }
    assert_no_more_events(&mut ingest, &client, "an Ok 4xx became an event").await;

    // The handler captured its own event, then failed: that event only.
    let answer = fetch(addr, "/upstream/reported", &[("authorization", BEARER)]).await;
    assert_eq!(answer.status, 502);
    let (event, received) = ingest.next_event().await;
    assert_no_secrets(&received.raw);
    assert_eq!(
        event.message.as_deref(),
        Some("upstream said no to [email]")
    );
    assert_eq!(event.tags["tenant"], "org-3");
    assert_eq!(event.tags["http.route"], "/upstream/{id}");
    assert_no_more_events(&mut ingest, &client, "the error was reported again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_follow_the_capture_settings() {
    let mut ingest = Ingest::start().await;
    let (client, hub) = client(&ingest);
    for context in [
        SentryContextLayer::new().capture_server_errors(false),
        SentryContextLayer::new().ignore_route("/upstream/{id}"),
    ] {
        let addr = serve(app(hub.clone(), context)).await;
        assert_eq!(fetch(addr, "/upstream/down", &[]).await.status, 502);
    }
    assert_no_more_events(&mut ingest, &client, "capturing is off for the route").await;

    // The same route on a layer that captures: an anonymous event.
    let addr = serve(app(hub, SentryContextLayer::new())).await;
    assert_eq!(fetch(addr, "/upstream/down", &[]).await.status, 502);
    let (event, _) = ingest.next_event().await;
    assert!(event.user.is_none(), "{:?}", event.user);
    assert!(!event.tags.contains_key("tenant"));
    assert_eq!(event.tags["http.route"], "/upstream/{id}");
}
