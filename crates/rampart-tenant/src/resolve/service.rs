//! The service: resolves, looks up, enters the tenant's scope, calls inner.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use rampart_core::ResponseBody;
use tower_service::Service;
use tracing::{
    Instrument, Level, Span,
    level_filters::{LevelFilter, STATIC_MAX_LEVEL},
};

use super::{Shared, TenantLayer, future::ResponseFuture, respond};
use crate::{
    Limits, Tenant, TenantConfigError, TenantCounter, TenantId, TenantPrincipal,
    context::WithTenant,
    resolve::source::{Found, resolve},
};

/// The service made by [`TenantLayer`]. Every clone shares one
/// configuration, one lookup cache and one set of counters.
///
/// # Example
///
/// ```
/// use rampart_tenant::TenantLayer;
/// use tower::{Layer, service_fn};
///
/// let layer = TenantLayer::builder().from_path_prefix("/t/").build().unwrap();
/// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// }));
/// let _inner = service.get_ref();
/// ```
#[derive(Debug, Clone)]
pub struct TenantService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> TenantService<S> {
    /// Wraps `inner` with `layer`'s configuration; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    pub fn new(inner: S, layer: &TenantLayer) -> Self {
        Self {
            inner,
            shared: Arc::clone(&layer.shared),
        }
    }

    /// Returns a new [`Layer`](tower_layer::Layer) that wraps services with a
    /// [`TenantService`] taking the tenant from the app's principal `P`, required;
    /// the same as `TenantLayer::builder().from_principal::<P>().build()`.
    pub fn layer<P: TenantPrincipal>() -> Result<TenantLayer, TenantConfigError> {
        TenantLayer::builder().from_principal::<P>().build()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Calls `inner` with `tenant` in the request, as the current tenant of
/// its future, and inside the `tenant` span.
#[inline(always)]
pub(super) fn enter<S, ReqB>(
    inner: &mut S,
    shared: &Shared,
    id: TenantId,
    limits: Arc<Limits>,
    mut request: Request<ReqB>,
) -> tracing::instrument::Instrumented<WithTenant<S::Future>>
where
    S: Service<Request<ReqB>>,
{
    let tenant = Tenant::from_parts(id, limits, Arc::clone(&shared.stats));
    // Without a subscriber that wants INFO, no span at all: a disabled one
    // still costs a call per enter and exit (more with tracing's `log`
    // feature, which some dependency often turns on).
    let span = if Level::INFO <= STATIC_MAX_LEVEL && Level::INFO <= LevelFilter::current() {
        tracing::info_span!("tenant", tenant = %tenant.id())
    } else {
        Span::none()
    };
    request.extensions_mut().insert(tenant.clone());
    // The inner service's `call` runs in the span; the tenant is the
    // current tenant while its future runs (where handlers run). Code in
    // a `call` itself reads the `Tenant` extension.
    let future = {
        let _entered = span.enter();
        inner.call(request)
    };
    tenant.scope(future).instrument(span)
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for TenantService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, ResB>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let shared = &*self.shared;
        let mut untrusted = false;
        let (found, source) = resolve(&shared.sources, &request, &mut untrusted);
        if untrusted {
            shared.stats.add(TenantCounter::UntrustedHeader);
        }
        let id = match found {
            Found::Tenant(id) => id,
            Found::Invalid(error) => {
                shared.stats.add(TenantCounter::Invalid);
                return ResponseFuture::rejected(respond::invalid(source, &error));
            }
            Found::Nothing if shared.required => {
                shared.stats.add(TenantCounter::Missing);
                return ResponseFuture::rejected(respond::missing());
            }
            Found::Nothing => {
                shared.stats.add(TenantCounter::Anonymous);
                return ResponseFuture::anonymous(self.inner.call(request));
            }
        };
        if let Some(source) = source {
            shared.stats.add(source.counter());
        }
        let limits = match &shared.lookup {
            None => Arc::clone(&shared.default_limits),
            Some(lookup) => match lookup.cached(&id) {
                Some(Some(limits)) => limits,
                Some(None) => {
                    shared.stats.add(TenantCounter::Unknown);
                    return ResponseFuture::rejected(respond::unknown(&id));
                }
                None => {
                    // Ask the app: the ready service goes into the future
                    // and a clone stays here, as tower's docs advise.
                    let clone = self.inner.clone();
                    let ready = std::mem::replace(&mut self.inner, clone);
                    let lookup = Box::pin(lookup.fetch(id.clone()));
                    return ResponseFuture::waiting(
                        lookup,
                        id,
                        ready,
                        request,
                        Arc::clone(&self.shared),
                    );
                }
            },
        };
        ResponseFuture::inner(enter(&mut self.inner, shared, id, limits, request))
    }
}
