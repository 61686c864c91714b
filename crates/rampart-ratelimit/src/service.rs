//! The service: finds the policies that apply, asks the store, answers.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use rampart_core::ResponseBody;
use tower_service::Service;

use smallvec::SmallVec;

use crate::{
    Demand, Key, Mode, Policy, RateLimitConfigError, RateLimitCounter, RateLimitStats, Store,
    policy::{KeySource, RequestView},
    store::IpDecision,
};
use crate::{
    RateLimitLayer,
    future::{self, ResponseFuture},
    layer::{Applied, Shared},
    respond::{self, Decision},
};

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
pub struct RateLimitService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> RateLimitService<S> {
    /// Wraps `inner` with `layer`'s policies; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    pub fn new(inner: S, layer: &RateLimitLayer) -> Self {
        Self {
            inner,
            shared: Arc::clone(&layer.shared),
        }
    }

    /// Returns a new [`Layer`](tower_layer::Layer) that wraps services with a
    /// [`RateLimitService`] enforcing one `policy` in `store`; the same as
    /// `RateLimitLayer::builder(store).policy(policy).build()`.
    ///
    /// ```
    /// use rampart_ratelimit::{MemoryStore, Policy, RateLimitService};
    ///
    /// let layer = RateLimitService::<()>::layer(MemoryStore::new(), Policy::new("api", "100/minute".parse()?)?)?;
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn layer(
        store: impl Store,
        policy: Policy,
    ) -> Result<RateLimitLayer, RateLimitConfigError> {
        RateLimitLayer::builder(store).policy(policy).build()
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for RateLimitService<S>
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
        if let Some(lone) = &self.shared.lone_ip {
            let Some(ip) = lone.key.of(request.extensions()) else {
                self.shared.stats.at(0).add(RateLimitCounter::NoKey);
                return ResponseFuture::quiet(self.inner.call(request));
            };
            let decision = lone.memory.decide_ip(&lone.policy, &ip);
            return self.answer_ip(request, 0, decision);
        }
        // Split the request only when a policy's predicate or key extractor
        // needs `Parts`; the default (client IP) reads the request as it is.
        if self.shared.needs_parts {
            let (parts, body) = request.into_parts();
            let claims = claims(&self.shared, &parts);
            return self.decide(Request::from_parts(parts, body), claims);
        }
        let claims = claims(&self.shared, &request);
        self.decide(request, claims)
    }
}

impl<S> RateLimitService<S> {
    #[inline(always)]
    fn decide<ReqB, ResB>(
        &mut self,
        request: Request<ReqB>,
        claims: Claims,
    ) -> ResponseFuture<S::Future, S, ReqB, ResB>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    {
        let shared = &self.shared;
        let verdict = match (claims.as_slice(), &shared.memory) {
            ([], _) => {
                return ResponseFuture::quiet(self.inner.call(request));
            }
            // One client-IP policy on the memory store: no `Demand`, no
            // store future, nothing allocated.
            ([(index, Key::Ip(ip))], Some(memory)) => shared.policies[*index]
                .ip_policy
                .as_ref()
                .map(|policy| (*index, memory.decide_ip(policy, ip))),
            _ => None,
        };
        if let Some((index, decision)) = verdict {
            return self.answer_ip(request, index, decision);
        }
        let applied: Applied = claims.iter().map(|(index, _)| *index).collect();
        let demands: SmallVec<[Demand; 2]> = claims
            .into_iter()
            .map(|(index, key)| {
                let policy = &shared.policies[index].policy;
                Demand {
                    policy: Arc::clone(&policy.name),
                    quota: policy.quota,
                    key,
                    cost: policy.cost,
                    enforce: policy.mode == Mode::Enforce,
                    fallback: policy.fallback,
                }
            })
            .collect();
        let applied = &applied;
        let mut decision = shared.store.decide(&demands);
        if let Some(result) = decision.take_ready() {
            let decided = match &result {
                Ok(verdicts) => respond::decide(shared, applied, Ok(verdicts)),
                Err(error) => respond::decide(shared, applied, Err(error)),
            };
            let headers = match decided {
                Decision::Pass(headers) => future::boxed(headers),
                Decision::Reject(response) => return ResponseFuture::rejected(response),
            };
            return ResponseFuture::with(self.inner.call(request), headers);
        }
        // The store needs I/O: the ready service goes into the future and a
        // clone stays here, as tower's docs advise.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::waiting(
            decision,
            ready,
            request,
            applied.clone(),
            Arc::clone(shared),
        )
    }
}

impl<S> RateLimitService<S> {
    /// Answers a request that one client-IP policy (`index`) applies to,
    /// decided on the memory store.
    #[inline(always)]
    fn answer_ip<ReqB, ResB>(
        &mut self,
        request: Request<ReqB>,
        index: usize,
        decision: IpDecision,
    ) -> ResponseFuture<S::Future, S, ReqB, ResB>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    {
        let shared = &self.shared;
        // One call of the inner service below, not one per branch: each
        // call site would build its future apart and copy it in.
        let headers = if decision.charged() {
            if respond::admitted_quietly(shared, index) {
                None
            } else {
                future::boxed(respond::admitted_one(shared, index, &decision.verdict()))
            }
        } else {
            let verdict = decision.verdict();
            match respond::decide(shared, &[index], Ok(std::slice::from_ref(&verdict))) {
                Decision::Pass(headers) => future::boxed(headers),
                Decision::Reject(response) => return ResponseFuture::rejected(response),
            }
        };
        ResponseFuture::with(self.inner.call(request), headers)
    }
}

/// The policies that apply to a request, each with its key (indexes into
/// `shared.policies`), inline for up to two.
type Claims = SmallVec<[(usize, Key); 2]>;

/// The policies that apply to a request and their keys.
fn claims(shared: &Shared, view: &impl RequestView) -> Claims {
    let mut claims = Claims::new();
    for (index, compiled) in shared.policies.iter().enumerate() {
        let policy = &compiled.policy;
        if !policy.scope.contains(view) {
            continue;
        }
        if policy.exempt.exempts(view) {
            shared.stats.at(index).add(RateLimitCounter::Exempt);
            continue;
        }
        let key = match &policy.key {
            KeySource::ClientIp(ip) => ip.of(view.extensions()).map(Key::Ip),
            KeySource::Custom(extractor) => view.parts().and_then(|p| extractor.extract(p)),
        };
        let Some(key) = key else {
            shared.stats.at(index).add(RateLimitCounter::NoKey);
            continue;
        };
        claims.push((index, key));
    }
    claims
}
