//! Middleware which limits request rates by policy and answers 429 with
//! `Retry-After`, the IETF `RateLimit-Policy`/`RateLimit` fields and a
//! problem+json body.

mod error;
mod future;
mod respond;
mod service;

use std::{any::Any, collections::HashSet, fmt, sync::Arc};

use tower_layer::Layer;

pub use self::{
    error::{RateLimitConfigError, RateLimitConfigIssue},
    future::ResponseFuture,
    respond::{PROBLEM_TYPE_LIMITED, rejection},
    service::RateLimitService,
};
use crate::{MemoryStore, Policy, RateLimitStats, Store, policy::KeySource, store::IpPolicy};

/// When the `RateLimit-Policy` and `RateLimit` fields are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitHeaders {
    /// On every response to a request that a policy applied to (default).
    #[default]
    Always,
    /// Only on 429 responses.
    OnRejection,
    /// Never (`Retry-After` is still sent on 429).
    Never,
}

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
    /// The layer's only policy, when it applies to every request, keys on the
    /// client address and counts in a [`MemoryStore`] (the plain "N per IP"
    /// set-up): decided without looking at scopes or building claims.
    pub(crate) lone_ip: Option<LoneIp>,
}

/// What the lone client-IP policy needs per request, taken out once.
pub(crate) struct LoneIp {
    pub(crate) memory: MemoryStore,
    pub(crate) policy: IpPolicy,
    pub(crate) key: crate::ClientIpKey,
}

pub(crate) struct Compiled {
    pub(crate) policy: Policy,
    /// This policy's `RateLimit-Policy` item, made once.
    pub(crate) item: String,
    /// The same as a header value, for a request only this policy applies to.
    pub(crate) item_value: Option<http::HeaderValue>,
    /// The start of this policy's item in the `RateLimit` field: `"name";r=`.
    pub(crate) field_prefix: Box<[u8]>,
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

/// Builds a [`RateLimitLayer`].
#[derive(Debug)]
#[must_use]
pub struct RateLimitLayerBuilder {
    store: Arc<dyn Store>,
    memory: Option<MemoryStore>,
    policies: Vec<Policy>,
    headers: RateLimitHeaders,
    legacy: bool,
}

impl RateLimitLayerBuilder {
    /// Adds a policy. A request passes only if every enforcing policy that
    /// applies to it admits it.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policies.push(policy);
        self
    }

    /// Adds several policies.
    pub fn policies(mut self, policies: impl IntoIterator<Item = Policy>) -> Self {
        self.policies.extend(policies);
        self
    }

    /// When to send the `RateLimit-Policy` and `RateLimit` fields
    /// ([draft-ietf-httpapi-ratelimit-headers-10]). Default: always.
    ///
    /// [draft-ietf-httpapi-ratelimit-headers-10]: https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/10/
    pub fn headers(mut self, mode: RateLimitHeaders) -> Self {
        self.headers = mode;
        self
    }

    /// Also sends `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
    /// `X-RateLimit-Reset` (seconds from now) for the tightest policy, for
    /// clients that read only those (default: off).
    pub fn legacy_headers(mut self, on: bool) -> Self {
        self.legacy = on;
        self
    }

    /// Checks the policies and builds the layer.
    pub fn build(self) -> Result<RateLimitLayer, RateLimitConfigError> {
        let mut issues = Vec::new();
        if self.policies.is_empty() {
            issues.push(RateLimitConfigIssue::NoPolicies);
        }
        let mut names = HashSet::new();
        for policy in &self.policies {
            if !names.insert(policy.name()) {
                issues.push(RateLimitConfigIssue::DuplicateName(
                    policy.name().to_owned(),
                ));
            }
            if policy.cost == 0 {
                issues.push(RateLimitConfigIssue::ZeroCost(policy.name().to_owned()));
            } else if u64::from(policy.cost) > policy.quota.burst() {
                issues.push(RateLimitConfigIssue::CostAboveBurst {
                    policy: policy.name().to_owned(),
                    cost: policy.cost,
                    burst: policy.quota.burst(),
                });
            }
        }
        if !issues.is_empty() {
            return Err(RateLimitConfigError::new(issues));
        }
        let stats = Arc::new(RateLimitStats::new(
            self.policies.iter().map(|p| Arc::clone(&p.name)),
        ));
        let needs_parts = self.policies.iter().any(Policy::needs_parts);
        let policies = self
            .policies
            .into_iter()
            .map(|policy| {
                let item = format!(
                    "\"{}\";q={};w={}",
                    policy.name,
                    policy.quota.count(),
                    policy.quota.period().as_secs()
                );
                let ip_policy = match (&self.memory, &policy.key) {
                    (Some(memory), KeySource::ClientIp(_)) => {
                        Some(memory.ip_policy(&policy.name, policy.quota, policy.cost))
                    }
                    _ => None,
                };
                Compiled {
                    field_prefix: format!("\"{}\";r=", policy.name).into_bytes().into(),
                    ip_policy,
                    item_value: http::HeaderValue::from_maybe_shared(bytes::Bytes::from(
                        item.clone(),
                    ))
                    .ok(),
                    item,
                    policy,
                }
            })
            .collect::<Box<[Compiled]>>();
        let lone_ip = match (&*policies, &self.memory) {
            (
                [
                    Compiled {
                        policy,
                        ip_policy: Some(ip_policy),
                        ..
                    },
                ],
                Some(memory),
            ) if policy.scope.is_everything() && policy.exempt.is_empty() => match &policy.key {
                KeySource::ClientIp(key) => Some(LoneIp {
                    memory: memory.clone(),
                    policy: ip_policy.clone(),
                    key: *key,
                }),
                KeySource::Custom(_) => None,
            },
            _ => None,
        };
        Ok(RateLimitLayer {
            shared: Arc::new(Shared {
                policies,
                lone_ip,
                needs_parts,
                store: self.store,
                memory: self.memory,
                headers: self.headers,
                legacy: self.legacy,
                stats,
            }),
        })
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
        RateLimitLayerBuilder {
            memory: (&store as &dyn Any).downcast_ref::<MemoryStore>().cloned(),
            store: Arc::new(store),
            policies: Vec::new(),
            headers: RateLimitHeaders::default(),
            legacy: false,
        }
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
