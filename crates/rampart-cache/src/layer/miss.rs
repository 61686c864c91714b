//! The miss path: single-flight, the store's lookup, the inner service,
//! storing what may be stored; and the background refresh of
//! stale-while-revalidate.

use std::{
    future::poll_fn,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;

use crate::{
    CacheBody, CacheControl, CacheOutcome, CacheScope, CacheStore, Lookup, TagStamp,
    flight::{Joined, Leader, follow},
    layer::{
        entry::{CachedResponse, Freshness, etag_for, is_stored_header, now_ms},
        layer::Shared,
        respond::{CACHE_STATUS, Status, from_entry},
        route::CompiledRoute,
    },
};

/// What `call` worked out for a miss.
pub(crate) struct Miss {
    pub(crate) route: usize,
    pub(crate) key: Bytes,
    pub(crate) tags: Vec<String>,
    /// The request said `no-cache`: forward, then store.
    pub(crate) no_cache: bool,
    /// An entry past its TTL that stale-if-error may still serve.
    pub(crate) stale: Option<Arc<CachedResponse>>,
    /// The request's `If-None-Match`.
    pub(crate) validators: HeaderMap,
    pub(crate) head: bool,
}

type Flight = Leader<Option<Arc<CachedResponse>>>;

async fn call_ready<S, R>(inner: &mut S, request: R) -> Result<S::Response, S::Error>
where
    S: Service<R>,
{
    poll_fn(|cx| inner.poll_ready(cx)).await?;
    inner.call(request).await
}

/// The inner service's response, passed on with `Cache-Status`.
fn forwarded<B: Body>(mut response: Response<B>, status: Status<'_>) -> Response<CacheBody<B>> {
    response.headers_mut().insert(CACHE_STATUS, status.value());
    response.map(CacheBody::new)
}

/// The versions to stamp a response with when no lookup gave them.
async fn stamp(store: &dyn CacheStore, tags: &[String]) -> Option<TagStamp> {
    if tags.is_empty() {
        return Some(TagStamp::none());
    }
    store.stamp(tags).await.ok()
}

/// The TTL to store `response` for, or `None` when it must not be stored.
fn storable<B: Body>(
    response: &Response<B>,
    route: &CompiledRoute,
    max_body: usize,
) -> Option<Duration> {
    let status = response.status();
    if !status.is_success() || status == http::StatusCode::PARTIAL_CONTENT {
        return None;
    }
    let headers = response.headers();
    if headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    let control = CacheControl::from_headers(headers);
    if control.malformed
        || control.no_store
        || control.no_cache
        || (control.private && route.scope != CacheScope::Principal)
    {
        return None;
    }
    for value in headers.get_all(header::VARY) {
        let value = value.to_str().ok()?;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*"
                || !route
                    .vary
                    .iter()
                    .any(|v| v.as_str().eq_ignore_ascii_case(name))
            {
                return None;
            }
        }
    }
    let size = response.body().size_hint().upper()?;
    if usize::try_from(size).map_or(true, |size| size > max_body) {
        return None;
    }
    let ttl = match control.s_maxage.or(control.max_age) {
        Some(secs) => route.ttl.min(Duration::from_secs(secs)),
        None => route.ttl,
    };
    (!ttl.is_zero()).then_some(ttl)
}

/// The entry for a response whose body has been read.
fn entry(
    parts: &http::response::Parts,
    body: Bytes,
    ttl: Duration,
    route: &CompiledRoute,
) -> CachedResponse {
    let mut headers = HeaderMap::with_capacity(parts.headers.len() + 3);
    for (name, value) in &parts.headers {
        if is_stored_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    if !headers.contains_key(header::ETAG) {
        headers.insert(header::ETAG, etag_for(&body));
    }
    CachedResponse {
        status: parts.status,
        headers,
        body,
        stored_at_ms: now_ms(),
        seen: Instant::now(),
        age_at_seen_ms: 0,
        ttl,
        stale_while_revalidate: route.stale_while_revalidate,
        stale_if_error: route.stale_if_error,
        last_hit: super::entry::LastHit::default(),
    }
}

pub(crate) async fn miss<S, ReqB, ResB>(
    mut inner: S,
    shared: Arc<Shared>,
    request: Request<ReqB>,
    job: Miss,
) -> Result<Response<CacheBody<ResB>>, S::Error>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Default + Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Send + 'static,
{
    let route = &shared.routes[job.route];
    let count = |outcome| {
        if let Some(counters) = &route.counters {
            counters.add(outcome);
        }
    };
    let store = &*shared.store;
    let mut stale = job.stale;
    let mut fwd = "uri-miss";
    let mut failed = false;
    let mut leader: Option<Flight> = None;
    let stamped;
    if job.no_cache {
        fwd = "request";
        stamped = stamp(store, &job.tags).await;
        failed = stamped.is_none();
    } else {
        let flight = loop {
            match shared.flights.join(&job.key) {
                Joined::Follower(receiver) => match follow(receiver).await {
                    Some(Some(entry)) => {
                        count(CacheOutcome::Hit);
                        let status = Status::Forward {
                            fwd,
                            stored: false,
                            collapsed: true,
                            detail: None,
                        };
                        return Ok(from_entry(
                            &entry,
                            Some(&job.validators),
                            job.head,
                            status,
                            entry.age(Instant::now()),
                        ));
                    }
                    Some(None) => {
                        // The leader's response could not be stored: ask for ours.
                        count(CacheOutcome::Miss);
                        let response = call_ready(&mut inner, request).await?;
                        let status = Status::Forward {
                            fwd,
                            stored: false,
                            collapsed: true,
                            detail: None,
                        };
                        return Ok(forwarded(response, status));
                    }
                    None => {}
                },
                Joined::Leader(flight) => break flight,
            }
        };
        stamped = match store.lookup(&job.key, &job.tags).await {
            Ok(Lookup::Miss(stamp)) => Some(stamp),
            Ok(Lookup::Hit(bytes)) => {
                // One time for the freshness and the answer's `Age`.
                let now = Instant::now();
                match CachedResponse::decode(&bytes).map(|e| (e.freshness(now), e)) {
                    Some((Freshness::Fresh(left), entry)) => {
                        count(CacheOutcome::Hit);
                        let entry = Arc::new(entry);
                        flight.publish(Some(Arc::clone(&entry)));
                        return Ok(from_entry(
                            &entry,
                            Some(&job.validators),
                            job.head,
                            Status::Hit(left),
                            entry.age(now),
                        ));
                    }
                    Some((Freshness::Revalidate(over), entry)) => {
                        count(CacheOutcome::Stale);
                        drop(flight);
                        let status = Status::Stale(over, "stale-while-revalidate");
                        let response = from_entry(
                            &entry,
                            Some(&job.validators),
                            job.head,
                            status,
                            entry.age(now),
                        );
                        let refresh = crate::layer::service::refresh_request(&request);
                        revalidate(
                            inner,
                            Arc::clone(&shared),
                            job.route,
                            job.key,
                            job.tags,
                            refresh,
                        );
                        return Ok(response);
                    }
                    Some((Freshness::IfError(_), entry)) => {
                        fwd = "stale";
                        stale = Some(Arc::new(entry));
                    }
                    Some((Freshness::Expired, _)) => fwd = "stale",
                    None => {
                        tracing::debug!(route = %route.name, "cached response unreadable; replaced");
                        failed = true;
                    }
                }
                stamp(store, &job.tags).await
            }
            Err(error) => {
                tracing::debug!(route = %route.name, %error, "cache store failed; forwarding");
                failed = true;
                None
            }
        };
        leader = Some(flight);
    }
    let detail = failed.then_some("store-error");

    let response = match call_ready(&mut inner, request).await {
        Ok(response) if !response.status().is_server_error() => response,
        result => {
            if let Some(entry) = stale {
                count(CacheOutcome::Stale);
                // One time for the freshness and the answer's `Age`.
                let now = Instant::now();
                let over = match entry.freshness(now) {
                    Freshness::IfError(over) | Freshness::Revalidate(over) => over,
                    _ => 0,
                };
                let status = Status::Stale(over, "stale-if-error");
                return Ok(from_entry(
                    &entry,
                    Some(&job.validators),
                    job.head,
                    status,
                    entry.age(now),
                ));
            }
            count(if failed {
                CacheOutcome::Error
            } else {
                CacheOutcome::Miss
            });
            let status = Status::Forward {
                fwd,
                stored: false,
                collapsed: false,
                detail,
            };
            return Ok(forwarded(result?, status));
        }
    };
    count(if failed {
        CacheOutcome::Error
    } else {
        CacheOutcome::Miss
    });
    let Some(ttl) = storable(&response, route, shared.max_body) else {
        if let Some(flight) = leader {
            flight.publish(None);
        }
        let status = Status::Forward {
            fwd,
            stored: false,
            collapsed: false,
            detail,
        };
        return Ok(forwarded(response, status));
    };
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return Ok(Response::from_parts(parts, CacheBody::failed(error))),
    };
    let entry = Arc::new(entry(&parts, body, ttl, route));
    let mut stored = false;
    if entry.body.len() <= shared.max_body
        && let Some(stamp) = stamped
    {
        match store
            .store(&job.key, entry.encode(), entry.store_ttl(), stamp)
            .await
        {
            Ok(()) => stored = true,
            Err(error) => {
                tracing::debug!(route = %route.name, %error, "cache store failed to store")
            }
        }
    }
    if let Some(flight) = leader {
        flight.publish(Some(Arc::clone(&entry)));
    }
    let status = Status::Forward {
        fwd,
        stored,
        collapsed: false,
        detail,
    };
    // Just made from the inner service's answer: `Age: 0`.
    Ok(from_entry(
        &entry,
        Some(&job.validators),
        job.head,
        status,
        0,
    ))
}

/// Refreshes an entry in the background (stale-while-revalidate): one
/// refresh per key at a time; none without a Tokio runtime.
pub(crate) fn revalidate<S, ReqB, ResB>(
    mut inner: S,
    shared: Arc<Shared>,
    route: usize,
    key: Bytes,
    tags: Vec<String>,
    request: Request<ReqB>,
) where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Send + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let Some(flight) = shared.flights.try_lead(&key) else {
        return;
    };
    runtime.spawn(async move {
        let route_config = &shared.routes[route];
        let Some(stamp) = stamp(&*shared.store, &tags).await else {
            return;
        };
        let Ok(response) = call_ready(&mut inner, request).await else {
            return;
        };
        let Some(ttl) = storable(&response, route_config, shared.max_body) else {
            return;
        };
        let (parts, body) = response.into_parts();
        let Ok(body) = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
        else {
            return;
        };
        if body.len() > shared.max_body {
            return;
        }
        let entry = Arc::new(entry(&parts, body, ttl, route_config));
        let _ = shared
            .store
            .store(&key, entry.encode(), entry.store_ttl(), stamp)
            .await;
        flight.publish(Some(entry));
    });
}
