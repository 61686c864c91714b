//! The service: finds the policies that apply, asks the store, answers.

use std::{
    net::IpAddr,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use rampart_core::ResponseBody;
use tower_service::Service;

use smallvec::SmallVec;

use crate::{
    Demand, Key, Mode, Policy, RateLimitConfigError, RateLimitCounter, RateLimitStats, Store,
    StoreFuture,
    policy::{KeySource, RequestView},
};
use crate::{
    RateLimitLayer,
    future::{self, ResponseFuture},
    layer::{Applied, Shared},
    respond::{self, Decision, HeaderSet},
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

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let shared = &self.shared;
        // Split the request only when a policy's predicate or key extractor
        // needs `Parts`; the default (client IP) reads the request as it is.
        let claims = if shared.needs_parts {
            let (parts, body) = request.into_parts();
            let claims = claims(shared, &parts);
            request = Request::from_parts(parts, body);
            claims
        } else {
            claims(shared, &request)
        };
        match decide(shared, claims) {
            Decided::Pass(headers) => ResponseFuture::with(self.inner.call(request), headers),
            Decided::Reject(response) => ResponseFuture::rejected(response),
            Decided::Later(decision, applied) => {
                // The store needs I/O: the ready service goes into the
                // future and a clone stays here, as tower's docs advise.
                let shared = Arc::clone(shared);
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(decision, ready, request, applied, shared)
            }
        }
    }
}

/// What the store said of a request, before the inner service is called.
enum Decided<B> {
    /// Pass it on, adding these headers to the response (if any).
    Pass(Option<Box<HeaderSet>>),
    /// Answer this instead.
    Reject(Response<ResponseBody<B>>),
    /// The store needs I/O: wait for its answer.
    Later(StoreFuture, Applied),
}

/// Asks the store about the request's `claims` and turns a ready answer
/// into what to do. A request that one client-address policy applies to
/// is decided on a memory store directly (no [`Demand`], no store future,
/// nothing allocated); any other goes to [`Store::decide`].
#[inline(always)]
fn decide<B>(shared: &Shared, claims: Claims) -> Decided<B> {
    let on_memory = match (&claims, &shared.memory) {
        (Claims::None, _) => return Decided::Pass(None),
        (Claims::OneIp(index, ip), Some(memory)) => shared.policies[*index]
            .ip_policy
            .as_ref()
            .map(|policy| (*index, memory.decide_ip(policy, ip))),
        _ => None,
    };
    let Some((index, decision)) = on_memory else {
        return decide_in_store(shared, claims.into_list());
    };
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
            Decision::Reject(response) => return Decided::Reject(response),
        }
    };
    Decided::Pass(headers)
}

/// [`decide`] through [`Store::decide`]: its answer if ready (a memory
/// store's), else its future.
#[inline(never)]
fn decide_in_store<B>(shared: &Shared, claims: ClaimList) -> Decided<B> {
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
    let mut decision = shared.store.decide(&demands);
    let Some(result) = decision.take_ready() else {
        return Decided::Later(decision, applied);
    };
    match respond::decide(shared, &applied, result.as_deref()) {
        Decision::Pass(headers) => Decided::Pass(future::boxed(headers)),
        Decision::Reject(response) => Decided::Reject(response),
    }
}

/// The policies that apply to a request, each with its key (indexes into
/// `shared.policies`), inline for up to two.
type ClaimList = SmallVec<[(usize, Key); 2]>;

/// [`ClaimList`], with the common case apart: one policy keyed on the
/// client address needs no list (nothing to build, nothing to drop).
enum Claims {
    None,
    OneIp(usize, IpAddr),
    Many(ClaimList),
}

impl Claims {
    #[inline(always)]
    fn push(&mut self, index: usize, key: Key) {
        match self {
            Self::None => {
                *self = match key {
                    Key::Ip(ip) => Self::OneIp(index, ip),
                    key => Self::Many(smallvec::smallvec![(index, key)]),
                };
            }
            Self::OneIp(first, ip) => {
                *self = Self::Many(smallvec::smallvec![(*first, Key::Ip(*ip)), (index, key)]);
            }
            Self::Many(list) => list.push((index, key)),
        }
    }

    fn into_list(self) -> ClaimList {
        match self {
            Self::None => ClaimList::new(),
            Self::OneIp(index, ip) => smallvec::smallvec![(index, Key::Ip(ip))],
            Self::Many(list) => list,
        }
    }
}

/// The policies that apply to a request and their keys.
fn claims(shared: &Shared, view: &impl RequestView) -> Claims {
    let mut claims = Claims::None;
    for (index, compiled) in shared.policies.iter().enumerate() {
        let policy = &compiled.policy;
        if !compiled.everywhere {
            if !policy.scope.contains(view) {
                continue;
            }
            if policy.exempt.exempts(view) {
                shared.stats.at(index).add(RateLimitCounter::Exempt);
                continue;
            }
        }
        let key = match &policy.key {
            KeySource::ClientIp(ip) => ip.of(view.extensions()).map(Key::Ip),
            KeySource::Custom(extractor) => view.parts().and_then(|p| extractor.extract(p)),
        };
        let Some(key) = key else {
            shared.stats.at(index).add(RateLimitCounter::NoKey);
            continue;
        };
        claims.push(index, key);
    }
    claims
}
