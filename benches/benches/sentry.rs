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

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use rampart::sentry::{
    Identity, RouteLabel, SentryContextLayer, SentryIdentityLayer,
    sentry::{self, ClientOptions, Envelope, Hub, Scope, Transport},
    sentry_tower::{NewSentryLayer, SentryHttpLayer, SentryLayer},
};
use tower::{Service, ServiceBuilder, service_fn};

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

/// Drives one request through the service. Everything is immediate, so one
/// poll with a no-op waker completes it: no runtime in the measurement.
fn call<S>(service: &mut S, request: Request<()>) -> S::Response
where
    S: Service<Request<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the handler is immediate"),
    }
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
        let mut group = c.benchmark_group("sentry/off");
        group.bench_function("bare handler", |b| {
            b.iter_batched(
                request,
                |req| black_box(call(&mut bare, req)),
                BatchSize::SmallInput,
            );
        });
        group.bench_function("rampart context+identity", |b| {
            b.iter_batched(
                request,
                |req| black_box(call(&mut rampart, req)),
                BatchSize::SmallInput,
            );
        });
        group.bench_function("sentry-tower hub+http", |b| {
            b.iter_batched(
                request,
                |req| black_box(call(&mut tower, req)),
                BatchSize::SmallInput,
            );
        });
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
        let mut group = c.benchmark_group("sentry/on, no event");
        group.bench_function("sentry-tower hub+http", |b| {
            b.iter_batched(
                request,
                |req| black_box(call(&mut tower, req)),
                BatchSize::SmallInput,
            );
        });
        group.bench_function("+ rampart context+identity", |b| {
            b.iter_batched(
                request,
                |req| black_box(call(&mut rampart, req)),
                BatchSize::SmallInput,
            );
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
