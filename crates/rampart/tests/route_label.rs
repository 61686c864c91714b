//! One `RouteLabel`, inserted once by the app, names the route for both the
//! metrics series and the Sentry event of the same request.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use http::{Request, Response, StatusCode};
use rampart::{
    core::RouteLabel,
    metrics::{Format, Metrics},
    sentry::{
        SentryConfig, SentryContextLayer,
        sentry::{self, Client, Envelope, Hub, Scope, Transport, protocol::Event},
        sentry_tower::SentryLayer,
    },
};
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// Keeps the events the client would send. The socket path is tested in
/// rampart-sentry's `ingest` tests; here only what the event says matters.
#[derive(Default)]
struct Kept(Mutex<Vec<Event<'static>>>);

impl Transport for Kept {
    fn send_envelope(&self, envelope: Envelope) {
        if let Some(event) = envelope.event() {
            self.0.lock().unwrap().push(event.clone());
        }
    }
}

fn hub(kept: &Arc<Kept>) -> Arc<Hub> {
    let mut options = SentryConfig::new()
        .dsn("http://public@127.0.0.1:9/1")
        .client_options()
        .unwrap();
    options.transport = Some(Arc::new(Arc::clone(kept)));
    let client = Arc::new(Client::from(sentry::apply_defaults(options)));
    Arc::new(Hub::new(Some(client), Arc::new(Scope::default())))
}

#[tokio::test]
async fn a_label_inserted_once_is_seen_by_metrics_and_sentry() {
    let kept = Arc::new(Kept::default());
    let parent = hub(&kept);
    let metrics = Metrics::new();
    let provider = move |_: &Request<String>| Arc::new(Hub::new_from_top(&parent));
    let app = ServiceBuilder::new()
        .layer(SentryLayer::<_, Arc<Hub>, Request<String>>::new(provider))
        .layer(SentryContextLayer::new())
        .layer(metrics.layer())
        .service(service_fn(|_req: Request<String>| async {
            let mut response = Response::new(String::from("down"));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            Ok::<_, Infallible>(response)
        }));

    // The app's router, not axum: it names the route once.
    let mut request = Request::get("/calls/8f3c").body(String::new()).unwrap();
    request
        .extensions_mut()
        .insert(RouteLabel::from_static("/calls/{id}"));
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    drop(response);

    let text = metrics.encode(Format::Text);
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/calls/{id}",status="502"} 1"#),
        "{text}"
    );
    assert!(!text.contains("8f3c"), "{text}");

    let events = kept.0.lock().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].tags["http.route"], "/calls/{id}");
    assert_eq!(
        events[0].message.as_deref(),
        Some("GET /calls/{id} answered 502 Bad Gateway")
    );
}

#[test]
fn the_crates_name_one_type() {
    // Existing imports keep compiling, and name the same type.
    use rampart::{
        metrics::RouteLabel as MetricsLabel, prelude::RouteLabel as PreludeLabel,
        sentry::RouteLabel as SentryLabel,
    };
    let label: MetricsLabel = RouteLabel::new("/users/{id}");
    let same: SentryLabel = label.clone();
    let prelude: PreludeLabel = same;
    assert_eq!(prelude, label);
}
