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

mod common;

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use common::{Calls, serve_all};
use criterion::Criterion;
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

    let mut group = Calls::group(c, "tenant/from principal");
    group.bench("bare service", &mut bare, request);
    group.bench("rampart", &mut principal, request);
    group.bench("rampart + cached lookup", &mut lookup, request);
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
        "bare" => serve_all(service_fn(handler), requests),
        "rampart" => serve_all(principal_layer().layer(service_fn(handler)), requests),
        "lookup" => {
            let mut service = lookup_layer().layer(service_fn(handler));
            warm(&mut service);
            serve_all(service, requests);
        }
        other => panic!("unknown case {other}"),
    }
}

fn main() {
    common::main_with_count("TENANT_COUNT", count, || {
        common::run(common::short_runs(Duration::from_secs(2)), &[bench]);
    });
}
