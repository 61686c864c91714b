//! rampart-sentry beside sentry-tower, in the same criterion run.
//!
//! - `sentry/off`: no client bound (no `SENTRY_DSN`). The bare handler,
//!   rampart's `SentryContextLayer` + `SentryIdentityLayer` (a pass-through:
//!   one thread-local read, no allocation), and sentry-tower's
//!   `NewSentryLayer` + `SentryHttpLayer` (which still build a hub and the
//!   request data per request).
//! - `sentry/on`: a client bound (its transport discards), a 200 response
//!   (no event): sentry-tower's two layers alone, then with rampart's two
//!   layers inside them, so the difference is what rampart adds per request.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-sentry cargo bench -p rampart-benches --bench sentry
//! ```

mod common;

use std::{convert::Infallible, sync::Arc, time::Duration};

use common::Calls;
use criterion::Criterion;
use http::{Request, Response};
use rampart::sentry::{
    Identity, RouteLabel, SentryContextLayer, SentryIdentityLayer,
    sentry::{self, ClientOptions, Envelope, Hub, Scope, Transport},
    sentry_tower::{NewSentryLayer, SentryHttpLayer, SentryLayer},
};
use tower::{ServiceBuilder, service_fn};

#[derive(Clone)]
struct Principal {
    user_id: String,
    org_id: String,
}

/// A transport that drops every envelope.
struct Discard;

impl Transport for Discard {
    fn send_envelope(&self, envelope: Envelope) {
        drop(envelope);
    }
}

async fn handler(_req: Request<()>) -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
}

fn request() -> Request<()> {
    let mut request = Request::get("/calls/42?page=2")
        .header("x-request-id", "0b9f7c6e-4a0e-4d1a-9a55-3f1c3c1f8e21")
        .header("user-agent", "bench")
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(RouteLabel::new("/calls/{id}"));
    request.extensions_mut().insert(Principal {
        user_id: "u-17".into(),
        org_id: "org-3".into(),
    });
    request
}

fn identity() -> SentryIdentityLayer<impl rampart::sentry::Identify + use<>> {
    SentryIdentityLayer::new(|ext: &http::Extensions| {
        ext.get::<Principal>()
            .map(|p| Identity::user(&p.user_id).with_tenant(&p.org_id))
    })
}

fn bench(c: &mut Criterion) {
    {
        let mut bare = service_fn(handler);
        let mut rampart = ServiceBuilder::new()
            .layer(SentryContextLayer::new())
            .layer(identity())
            .service(service_fn(handler));
        let mut tower = ServiceBuilder::new()
            .layer(NewSentryLayer::<Request<()>>::new_from_top())
            .layer(SentryHttpLayer::new())
            .service(service_fn(handler));
        let mut group = Calls::group(c, "sentry/off");
        group.bench("bare handler", &mut bare, request);
        group.bench("rampart context+identity", &mut rampart, request);
        group.bench("sentry-tower hub+http", &mut tower, request);
        group.finish();
    }
    {
        let options = ClientOptions {
            dsn: "https://public@sentry.invalid/1".parse().ok(),
            transport: Some(Arc::new(|_: &ClientOptions| {
                Arc::new(Discard) as Arc<dyn Transport>
            })),
            ..ClientOptions::default()
        };
        let client = Arc::new(sentry::Client::from(options));
        assert!(client.is_enabled());
        let parent = Arc::new(Hub::new(Some(client), Arc::new(Scope::default())));
        let provider = move |_: &Request<()>| Arc::new(Hub::new_from_top(&parent));
        let mut tower = ServiceBuilder::new()
            .layer(SentryLayer::<_, Arc<Hub>, Request<()>>::new(
                provider.clone(),
            ))
            .layer(SentryHttpLayer::new())
            .service(service_fn(handler));
        let mut rampart = ServiceBuilder::new()
            .layer(SentryLayer::<_, Arc<Hub>, Request<()>>::new(provider))
            .layer(SentryHttpLayer::new())
            .layer(SentryContextLayer::new())
            .layer(identity())
            .service(service_fn(handler));
        let mut group = Calls::group(c, "sentry/on, no event");
        group.bench("sentry-tower hub+http", &mut tower, request);
        group.bench("+ rampart context+identity", &mut rampart, request);
        group.finish();
    }
}

fn main() {
    common::run(common::short_runs(Duration::from_secs(3)), &[bench]);
}
