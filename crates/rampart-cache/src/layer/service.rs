//! The service: matches the route, applies the bypass rules, builds the
//! key and answers hits in `call`; misses go to [`miss`](super::miss).

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, header};
use http_body::Body;
use tower_service::Service;

use crate::{
    CacheBody, CacheControl, CacheOutcome, CacheScope,
    key::{KeyBuf, request_key},
    layer::{
        ResponseFuture,
        entry::{CachedResponse, Freshness},
        layer::Shared,
        miss::{Miss, miss, revalidate},
        respond::{Status, from_entry},
    },
};

/// Middleware which caches the responses of the routes a
/// [`CacheConfig`](crate::CacheConfig) lists; made by
/// [`CacheLayer`](crate::CacheLayer). See the [crate docs](crate) for the
/// rules.
///
/// The inner service must be `Clone + Send + 'static` (a miss calls it
/// from a future of its own, a stale-while-revalidate refresh from a
/// spawned task), and the request body `Default` (the refresh sends an
/// empty one: only `GET` and `HEAD` are cached).
#[derive(Debug, Clone)]
pub struct CacheService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> CacheService<S> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// Returns a new builder of the [`Layer`](tower_layer::Layer) that wraps
    /// services with a [`CacheService`]; the same as
    /// [`CacheLayer::builder`](crate::CacheLayer::builder).
    pub fn layer(store: impl crate::CacheStore) -> crate::CacheLayerBuilder {
        crate::CacheLayer::builder(store)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The same request again, with an empty body and no validators (a
/// refresh wants the whole response).
pub(crate) fn refresh_request<B: Default>(request: &Request<B>) -> Request<B> {
    let mut copy = Request::new(B::default());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy.headers_mut().remove(header::IF_NONE_MATCH);
    copy.headers_mut().remove(header::IF_MODIFIED_SINCE);
    *copy.extensions_mut() = request.extensions().clone();
    copy
}

/// The request headers a hit depends on, found in one pass over the
/// names: a lookup by name hashes it, and a hit asked four of them.
#[derive(Debug, Default)]
struct RequestHeaders {
    /// `Authorization` or `Cookie`.
    credentials: bool,
    cache_control: bool,
    if_none_match: bool,
}

impl RequestHeaders {
    fn scan(headers: &HeaderMap) -> Self {
        let mut seen = Self::default();
        for name in headers.keys() {
            if name == header::AUTHORIZATION || name == header::COOKIE {
                seen.credentials = true;
            } else if name == header::CACHE_CONTROL {
                seen.cache_control = true;
            } else if name == header::IF_NONE_MATCH {
                seen.if_none_match = true;
            }
        }
        seen
    }
}

fn validators(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for value in headers.get_all(header::IF_NONE_MATCH) {
        kept.append(header::IF_NONE_MATCH, value.clone());
    }
    kept
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for CacheService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Default + Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Send + 'static,
{
    type Response = Response<CacheBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB, S::Error>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let shared = &*self.shared;
        let head = request.method() == Method::HEAD;
        if !shared.enabled || !(head || request.method() == Method::GET) {
            return ResponseFuture::inner(self.inner.call(request), None);
        }
        let path = request.uri().path();
        let Some((index, params)) = shared
            .routes
            .iter()
            .enumerate()
            .find_map(|(i, route)| route.matches(path).map(|params| (i, params)))
        else {
            return ResponseFuture::inner(self.inner.call(request), None);
        };
        let route = &shared.routes[index];
        let count = |outcome| {
            if let Some(counters) = &route.counters {
                counters.add(outcome);
            }
        };
        let headers = request.headers();
        let extensions = request.extensions();
        let tenant = shared.tenant.as_ref().and_then(|read| read(extensions));
        let principal = shared.principal.as_ref().and_then(|read| read(extensions));
        let seen = RequestHeaders::scan(headers);
        let control = if seen.cache_control {
            CacheControl::from_headers(headers)
        } else {
            CacheControl::default()
        };
        let credentials = seen.credentials;
        let with_validators = seen.if_none_match.then_some(headers);
        let bypass = if control.no_store {
            Some("no-store")
        } else if credentials && route.scope == CacheScope::Public {
            Some("credentials")
        } else if route.scope == CacheScope::Tenant && tenant.is_none() {
            Some("no-tenant")
        } else if route.scope == CacheScope::Principal && principal.is_none() {
            Some("no-principal")
        } else {
            None
        };
        let principal_part = (route.scope == CacheScope::Principal)
            .then_some(principal.as_deref())
            .flatten();
        // Tags are made on a miss only; a hit needs to know that they can be.
        let bypass = bypass.or_else(|| {
            (!route.tags_valid(&params, tenant.as_deref(), principal.as_deref())).then_some("tag")
        });
        if let Some(why) = bypass {
            count(CacheOutcome::Bypass);
            let status = Status::Bypass(why).value();
            return ResponseFuture::inner(self.inner.call(request), Some(status));
        }
        let vary = route.vary.iter().map(|name| {
            let values = headers
                .get_all(name)
                .iter()
                .map(http::HeaderValue::as_bytes);
            (name.as_str(), values)
        });
        let mut key = KeyBuf::new();
        request_key(
            &mut key,
            request.method().as_str(),
            path,
            request.uri().query(),
            vary,
            tenant.as_deref(),
            principal_part,
        );
        let tags = || route.render_tags(&params, tenant.as_deref(), principal.as_deref());
        let no_cache = control.no_cache || control.max_age == Some(0);

        let mut stale = None;
        if !no_cache
            && let now = Instant::now()
            && let Some(hit) = shared.store.lookup_local_at(&key, now)
            && let Some(entry) = hit.decoded_ref(CachedResponse::decode)
        {
            let age_ms = entry.age_ms(now);
            let age = age_ms / 1000;
            match entry.freshness_at(age_ms) {
                Freshness::Fresh(left) => {
                    count(CacheOutcome::Hit);
                    return ResponseFuture::ready(from_entry(
                        entry,
                        with_validators,
                        head,
                        Status::Hit(left),
                        age,
                    ));
                }
                Freshness::Revalidate(over) => {
                    count(CacheOutcome::Stale);
                    let response = from_entry(
                        entry,
                        with_validators,
                        head,
                        Status::Stale(over, "stale-while-revalidate"),
                        age,
                    );
                    if let Some(tags) = tags() {
                        revalidate(
                            self.inner.clone(),
                            Arc::clone(&self.shared),
                            index,
                            Bytes::copy_from_slice(&key),
                            tags,
                            refresh_request(&request),
                        );
                    }
                    return ResponseFuture::ready(response);
                }
                Freshness::IfError(_) => stale = hit.decoded(CachedResponse::decode),
                Freshness::Expired => {}
            }
        }

        let Some(tags) = tags() else {
            // `tags_valid` said they could be made: not reached.
            count(CacheOutcome::Bypass);
            let status = Status::Bypass("tag").value();
            return ResponseFuture::inner(self.inner.call(request), Some(status));
        };
        // The service polled ready is the one that must be called.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let job = Miss {
            route: index,
            key: Bytes::copy_from_slice(&key),
            tags,
            no_cache,
            stale,
            validators: validators(headers),
            head,
        };
        ResponseFuture::miss(Box::pin(miss(
            inner,
            Arc::clone(&self.shared),
            request,
            job,
        )))
    }
}
