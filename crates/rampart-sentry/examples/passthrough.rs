//! Drives requests through a handler bare, or behind `SentryContextLayer` +
//! `SentryIdentityLayer` (`off`, `on`), or behind sentry-tower's
//! `NewSentryLayer` + `SentryHttpLayer` (`tower-off`, `tower-on`), with
//! Sentry off (no client) or on (a client whose transport discards, no event
//! captured), for instruction and allocation counts under valgrind, where
//! wall-clock timings are too noisy:
//!
//! ```text
//! cargo build --profile bench -p rampart-sentry --example passthrough
//! for mode in bare off on tower-off tower-on; do
//!   valgrind --tool=dhat --dhat-out-file=/dev/null target/release/examples/passthrough $mode 2>&1 | grep 'Total:'
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/passthrough $mode 2>&1 | grep Collected
//! done
//! ```
//!
//! The difference between two modes divided by the request count is the
//! per-request cost of the layers.

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use http::{Extensions, Request, Response};
use rampart_sentry::{
    Identity, RouteLabel, SentryContextLayer, SentryIdentityLayer,
    sentry::{self, ClientOptions, Envelope, Hub, Scope, Transport},
    sentry_tower::{NewSentryLayer, SentryHttpLayer},
};
use tower::{Service, ServiceBuilder, service_fn};

/// Requests per run.
const REQUESTS: usize = 100_000;

#[derive(Clone)]
struct Principal {
    user_id: String,
    org_id: String,
}

struct Discard;

impl Transport for Discard {
    fn send_envelope(&self, envelope: Envelope) {
        drop(envelope);
    }
}

fn request() -> Request<()> {
    let mut request = Request::get("/calls/42")
        .header("x-request-id", "0b9f7c6e-4a0e-4d1a-9a55-3f1c3c1f8e21")
        .body(())
        .unwrap_or_default();
    request
        .extensions_mut()
        .insert(RouteLabel::from_static("/calls/{id}"));
    request.extensions_mut().insert(Principal {
        user_id: "u-17".into(),
        org_id: "org-3".into(),
    });
    request
}

fn drive<S>(mut service: S)
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..REQUESTS {
        let _ = service.poll_ready(&mut cx);
        let mut future = pin!(service.call(request()));
        if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
            black_box(response).ok();
        }
    }
}

fn main() {
    let handler = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let layered = || {
        ServiceBuilder::new()
            .layer(SentryContextLayer::new())
            .layer(SentryIdentityLayer::new(|ext: &Extensions| {
                ext.get::<Principal>()
                    .map(|p| Identity::user(&p.user_id).with_tenant(&p.org_id))
            }))
            .service(handler)
    };
    let tower = || {
        ServiceBuilder::new()
            .layer(NewSentryLayer::<Request<()>>::new_from_top())
            .layer(SentryHttpLayer::new())
            .service(handler)
    };
    let mode = std::env::args().nth(1);
    match mode.as_deref() {
        Some("off") => drive(layered()),
        Some("tower-off") => drive(tower()),
        Some(on @ ("on" | "tower-on")) => {
            let options = ClientOptions {
                dsn: "https://public@sentry.invalid/1".parse().ok(),
                transport: Some(Arc::new(|_: &ClientOptions| {
                    Arc::new(Discard) as Arc<dyn Transport>
                })),
                ..ClientOptions::default()
            };
            let client = Arc::new(sentry::Client::from(options));
            let hub = Arc::new(Hub::new(Some(client), Arc::new(Scope::default())));
            if on == "on" {
                Hub::run(hub, || drive(layered()));
            } else {
                Hub::run(hub, || drive(tower()));
            }
        }
        _ => drive(handler),
    }
}
