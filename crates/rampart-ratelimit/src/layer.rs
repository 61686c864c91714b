//! The layer: the compiled policies and the store, shared by every service
//! it makes.

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use crate::{
    MemoryStore, Policy, RateLimitHeaders, RateLimitLayerBuilder, RateLimitService, RateLimitStats,
    Store, store::IpPolicy,
};

/// The indexes of the policies applied to one request.
pub(crate) type Applied = smallvec::SmallVec<[usize; 2]>;

pub(crate) struct Shared {
    pub(crate) policies: Box<[Compiled]>,
    /// Some policy needs the request's `Parts` (a predicate or a custom key).
    pub(crate) needs_parts: bool,
    pub(crate) store: Arc<dyn Store>,
    /// The store, when it is a [`MemoryStore`]: a request that one
    /// client-IP policy applies to is decided on it directly.
    pub(crate) memory: Option<MemoryStore>,
    pub(crate) headers: RateLimitHeaders,
    pub(crate) legacy: bool,
    pub(crate) stats: Arc<RateLimitStats>,
}

pub(crate) struct Compiled {
    pub(crate) policy: Policy,
    /// This policy's `RateLimit-Policy` item, made once.
    pub(crate) item: String,
    /// The same as a header value, for a request only this policy applies to.
    pub(crate) item_value: Option<http::HeaderValue>,
    /// The start of this policy's item in the `RateLimit` field: `"name";r=`.
    pub(crate) field_prefix: Box<[u8]>,
    /// The policy applies to every request (no scope, no exemption): its
    /// claim is made without looking at the request's method or path.
    pub(crate) everywhere: bool,
    /// With a memory store and the client-IP key: what the store needs to
    /// decide this policy directly (its hasher primed with the name, its
    /// GCRA numbers).
    pub(crate) ip_policy: Option<IpPolicy>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field(
                "policies",
                &self.policies.iter().map(|c| &c.policy).collect::<Vec<_>>(),
            )
            .field("store", &self.store)
            .field("headers", &self.headers)
            .field("legacy", &self.legacy)
            .finish()
    }
}

/// Applies rate limit [`Policy`]s to every request, deciding them in a
/// [`Store`] that every clone of the service shares (so it limits even when
/// a server clones the service per connection).
///
/// See the [crate docs](crate) for the whole picture.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use rampart_core::{ClientIp, ClientIpSource};
/// use rampart_ratelimit::{MemoryStore, Policy, RateLimitLayer};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let layer = RateLimitLayer::builder(MemoryStore::new())
///     .policy(Policy::parse("api", "2/minute").unwrap())
///     .build()
///     .unwrap();
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|_req: Request<Full<Bytes>>| async {
///         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
///     }));
///
/// let request = || {
///     let mut request = Request::new(Full::default());
///     request.extensions_mut().insert(ClientIp::new("192.0.2.1".parse().unwrap(), ClientIpSource::Peer));
///     request
/// };
/// let first = service.clone().oneshot(request()).await.unwrap();
/// assert_eq!(first.headers()["ratelimit-policy"], "\"api\";q=2;w=60");
/// assert_eq!(first.headers()["ratelimit"], "\"api\";r=1;t=30");
/// service.clone().oneshot(request()).await.unwrap();
/// let third = service.clone().oneshot(request()).await.unwrap();
/// assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(third.headers()["retry-after"], "30");
/// assert_eq!(third.headers()["ratelimit"], "\"api\";r=0;t=30");
/// # });
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RateLimitLayer {
    pub(crate) shared: Arc<Shared>,
}

impl RateLimitLayer {
    /// A builder deciding in `store`.
    pub fn builder(store: impl Store) -> RateLimitLayerBuilder {
        RateLimitLayerBuilder::new(store)
    }

    /// The counters of this layer's policies.
    pub fn stats(&self) -> Arc<RateLimitStats> {
        Arc::clone(&self.shared.stats)
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, self)
    }
}
