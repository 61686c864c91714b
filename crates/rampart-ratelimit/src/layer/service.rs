//! The service: finds the policies that apply, asks the store, answers.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use rampart_core::ResponseBody;
use tower_service::Service;

use super::{
    RateLimitLayer, Shared,
    future::ResponseFuture,
    respond::{self, Decision, HeaderSet},
};
use crate::{Counter, Demand, Mode, RateLimitStats};

/// The service made by [`RateLimitLayer`]. Every clone shares one set of
/// policies, one store and one set of counters.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::{MemoryStore, Policy, RateLimitLayer};
/// use tower::{Layer, service_fn};
///
/// let layer = RateLimitLayer::builder(MemoryStore::new())
///     .policy(Policy::parse("global", "1000/hour").unwrap())
///     .build()
///     .unwrap();
/// let service = layer.layer(service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// }));
/// let _inner = service.get_ref();
/// ```
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> RateLimit<S> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// Wraps `inner` with `layer`'s policies.
    pub fn new(inner: S, layer: &RateLimitLayer) -> Self {
        tower_layer::Layer::layer(layer, inner)
    }

    /// The counters of this service's policies.
    pub fn stats(&self) -> Arc<RateLimitStats> {
        Arc::clone(&self.shared.stats)
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for RateLimit<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S, ReqB, ResB>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let shared = &self.shared;
        let mut applied = Vec::with_capacity(shared.policies.len());
        let mut demands = Vec::with_capacity(shared.policies.len());
        for (index, compiled) in shared.policies.iter().enumerate() {
            let policy = &compiled.policy;
            if !policy.scope.contains(&parts) {
                continue;
            }
            if policy.exempt.exempts(&parts) {
                shared.stats.at(index).add(Counter::Exempt);
                continue;
            }
            let Some(key) = policy.key.extract(&parts) else {
                shared.stats.at(index).add(Counter::NoKey);
                continue;
            };
            applied.push(index);
            demands.push(Demand {
                policy: Arc::clone(&policy.name),
                quota: policy.quota,
                key,
                cost: policy.cost,
                enforce: policy.mode == Mode::Enforce,
                fallback: policy.fallback,
            });
        }
        let request = Request::from_parts(parts, body);
        if demands.is_empty() {
            return ResponseFuture::inner(self.inner.call(request), HeaderSet::default());
        }
        let mut decision = shared.store.decide(&demands);
        if let Some(result) = decision.take_ready() {
            return match respond::decide(shared, &applied, result) {
                Decision::Pass(headers) => ResponseFuture::inner(self.inner.call(request), headers),
                Decision::Reject(response) => ResponseFuture::rejected(response),
            };
        }
        // The store needs I/O: the ready service goes into the future and a
        // clone stays here, as tower's docs advise.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::waiting(decision, ready, request, applied, Arc::clone(shared))
    }
}
