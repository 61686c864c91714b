//! rampart-tenant: the cost of resolving the tenant from the app's
//! principal through `TenantLayer`, beside the bare service, in the same
//! criterion run. There is no peer crate to compare with: the baseline is
//! the handler alone (which reads the principal from the extensions
//! itself).
//!
//! Three cases: the bare service; the layer with a principal source and no
//! lookup; the same with a lookup whose answer is cached (moka), as an app
//! with per-tenant quotas runs it.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-tenant cargo bench -p rampart-benches --bench tenant
//! ```

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group};
use http::{Request, Response};
use http_body_util::Full;
use rampart::tenant::{Limits, LookupError, TenantId, TenantLayer, TenantPrincipal};
use tower::{Layer, Service, service_fn};

/// The demo's principal: a user of an organization.
#[derive(Clone)]
struct Principal {
    _user_id: String,
    org_id: String,
}

impl TenantPrincipal for Principal {
    fn tenant_id(&self) -> Option<&str> {
        Some(&self.org_id)
    }
}

fn request() -> Request<()> {
    let mut request = Request::new(());
    request.extensions_mut().insert(Principal {
        _user_id: "5b0d7c1e-3f0a-4c8e-9a77-2f1d6e0b9c41".into(),
        org_id: "0f3c9a52-6d1b-4e7a-8c2f-9b4e1d7a3c65".into(),
    });
    request
}

async fn handler(_req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

fn principal_layer() -> TenantLayer {
    TenantLayer::builder()
        .from_principal::<Principal>()
        .build()
        .expect("valid configuration")
}

fn lookup_layer() -> TenantLayer {
    TenantLayer::builder()
        .from_principal::<Principal>()
        .lookup(|_id: TenantId| async {
            Ok::<_, LookupError>(Some(
                Limits::new()
                    .max_concurrent(10)
                    .monthly("calls", 10_000)
                    .counted("users", 25)
                    .counted("campaigns", 50),
            ))
        })
        .build()
        .expect("valid configuration")
}

/// Drives one request through the service. The handler never waits (and the
/// lookup is answered from the cache), so one poll with a no-op waker
/// completes it: no runtime in the measurement. Never inlined, for
/// `valgrind --tool=callgrind --toggle-collect='*call_now*'`.
#[inline(never)]
fn call_now<S>(service: &mut S, request: Request<()>) -> S::Response
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

/// Fills the lookup cache: the first request of a tenant waits for the
/// lookup (a runtime is needed once).
fn warm<S>(service: &mut S)
where
    S: Service<Request<()>, Error = Infallible>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap_or_else(|never| match never {});
        let _ = service.call(request()).await;
    });
}

fn bench(c: &mut Criterion) {
    let mut bare = service_fn(handler);
    let mut principal = principal_layer().layer(service_fn(handler));
    let mut lookup = lookup_layer().layer(service_fn(handler));
    warm(&mut lookup);

    let mut group = c.benchmark_group("tenant/from principal");
    group.bench_function("bare service", |b| {
        b.iter_batched(
            request,
            |req| black_box(call_now(&mut bare, req)),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("rampart", |b| {
        b.iter_batched(
            request,
            |req| black_box(call_now(&mut principal, req)),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("rampart + cached lookup", |b| {
        b.iter_batched(
            request,
            |req| black_box(call_now(&mut lookup, req)),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// `TENANT_COUNT=<bare|rampart|lookup>`: serves that case `COUNT_REQUESTS`
/// times and exits, for instruction counts a loaded machine does not blur:
///
/// ```sh
/// TENANT_COUNT=rampart valgrind --tool=callgrind \
///     --toggle-collect='*call_now*' /work/target-tenant/release/deps/tenant-<hash>
/// ```
fn count(which: &str) {
    const COUNT_REQUESTS: usize = 10_000;
    let requests: Vec<_> = (0..COUNT_REQUESTS).map(|_| request()).collect();
    match which {
        "bare" => {
            let mut service = service_fn(handler);
            for req in requests {
                black_box(call_now(&mut service, req));
            }
        }
        "rampart" => {
            let mut service = principal_layer().layer(service_fn(handler));
            for req in requests {
                black_box(call_now(&mut service, req));
            }
        }
        "lookup" => {
            let mut service = lookup_layer().layer(service_fn(handler));
            warm(&mut service);
            for req in requests {
                black_box(call_now(&mut service, req));
            }
        }
        other => panic!("unknown case {other}"),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}

fn main() {
    if let Ok(which) = std::env::var("TENANT_COUNT") {
        count(&which);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
