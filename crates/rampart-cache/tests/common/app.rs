//! The inner service the layer tests put the cache in front of: it answers
//! with what it saw (path, query, tenant, principal) and a call number, and
//! lets the request choose the response's status, headers and body shape.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use rampart_cache::{CacheConfig, CacheLayer, CacheRoute, CacheScope, CacheStore};
use tower::{BoxError, Layer, service_fn, util::BoxCloneSyncService};

/// The tenant, as an app's tenant layer would put it in the extensions.
#[derive(Debug, Clone)]
pub struct T(pub String);
/// The principal, as an app's authentication would.
#[derive(Debug, Clone)]
pub struct P(pub String);

/// A body with or without a known size.
#[derive(Debug)]
pub struct TestBody {
    data: Option<Bytes>,
    known: bool,
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, self.known) {
            (Some(d), true) => SizeHint::with_exact(d.len() as u64),
            (None, _) => SizeHint::with_exact(0),
            (Some(_), false) => SizeHint::default(),
        }
    }
}

/// Switches and counters of the inner service.
#[derive(Debug, Default, Clone)]
pub struct Inner {
    pub calls: Arc<AtomicUsize>,
    pub fail: Arc<AtomicBool>,
    /// Changes the answer's content (as a write would).
    pub version: Arc<AtomicUsize>,
}

impl Inner {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

pub type Svc =
    BoxCloneSyncService<Request<String>, Response<rampart_cache::CacheBody<TestBody>>, BoxError>;

/// The inner service. Request headers steer it: `x-status`, `x-cc`
/// (Cache-Control), `x-vary`, `x-set-cookie`, `x-etag`, `x-size: unknown`,
/// `x-big: N` (an N-byte body), `x-delay-ms`.
pub fn inner(
    state: &Inner,
) -> impl tower::Service<
    Request<String>,
    Response = Response<TestBody>,
    Error = BoxError,
    Future = impl Send + use<>,
> + Clone
+ Send
+ Sync
+ use<> {
    let state = state.clone();
    service_fn(move |request: Request<String>| {
        let state = state.clone();
        async move {
            let n = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let h = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            if let Some(ms) = h("x-delay-ms") {
                tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
            }
            if state.fail.load(Ordering::SeqCst) {
                if h("x-fail-as").as_deref() == Some("500") {
                    let mut response = Response::new(TestBody {
                        data: Some("down".into()),
                        known: true,
                    });
                    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    return Ok(response);
                }
                return Err::<_, BoxError>("inner service failed".into());
            }
            let tenant = request
                .extensions()
                .get::<T>()
                .map_or("-", |t| t.0.as_str());
            let principal = request
                .extensions()
                .get::<P>()
                .map_or("-", |p| p.0.as_str());
            let text = match h("x-big") {
                Some(size) => "x".repeat(size.parse().unwrap()),
                None => format!(
                    "{} {}?{} tenant={tenant} principal={principal} lang={} v={} n={n}",
                    request.method(),
                    request.uri().path(),
                    request.uri().query().unwrap_or(""),
                    h("accept-language").unwrap_or_default(),
                    state.version.load(Ordering::SeqCst),
                ),
            };
            let mut response = Response::new(TestBody {
                data: Some(Bytes::from(text)),
                known: h("x-size").as_deref() != Some("unknown"),
            });
            if request.method() == http::Method::HEAD {
                *response.body_mut() = TestBody {
                    data: None,
                    known: true,
                };
            }
            if let Some(status) = h("x-status") {
                *response.status_mut() = status.parse().unwrap();
            }
            let headers = response.headers_mut();
            headers.insert("content-type", "text/plain".parse().unwrap());
            for (from, to) in [
                ("x-cc", "cache-control"),
                ("x-vary", "vary"),
                ("x-set-cookie", "set-cookie"),
                ("x-etag", "etag"),
            ] {
                if let Some(value) = h(from) {
                    headers.insert(to, value.parse().unwrap());
                }
            }
            Ok(response)
        }
    })
}

/// The routes every layer test uses.
pub fn config() -> CacheConfig {
    CacheConfig::new()
        .max_body_bytes(1024)
        .route(
            CacheRoute::new("tenant", "/t/*")
                .scope(CacheScope::Tenant)
                .tag("t:{tenant}"),
        )
        .route(
            CacheRoute::new("principal", "/p/*")
                .scope(CacheScope::Principal)
                .tag("u:{principal}"),
        )
        .route(CacheRoute::new("vary", "/v/*").vary("accept-language"))
        .route(
            CacheRoute::new("swr", "/swr/*")
                .ttl(Duration::from_secs(1))
                .stale_while_revalidate(Duration::from_secs(300)),
        )
        .route(
            CacheRoute::new("sie", "/sie/*")
                .ttl(Duration::from_secs(1))
                .stale_if_error(Duration::from_secs(300)),
        )
        .route(CacheRoute::new("item", "/items/{id}").tag("item:{id}"))
        .route(CacheRoute::new("public", "/r/*"))
}

pub fn layer(store: impl CacheStore) -> CacheLayer {
    CacheLayer::builder(store)
        .config(config())
        .tenant(|e| e.get::<T>().map(|t| t.0.as_str().into()))
        .principal(|e| e.get::<P>().map(|p| p.0.as_str().into()))
        .build()
        .unwrap()
}

pub fn service(layer: &CacheLayer, state: &Inner) -> Svc {
    BoxCloneSyncService::new(layer.layer(inner(state)))
}

/// A GET of `uri` with `headers`, as tenant `tenant` and principal `principal`.
pub fn get(
    uri: &str,
    headers: &[(&str, &str)],
    tenant: Option<&str>,
    principal: Option<&str>,
) -> Request<String> {
    let mut builder = Request::get(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(String::new()).unwrap();
    if let Some(t) = tenant {
        request.extensions_mut().insert(T(t.to_owned()));
    }
    if let Some(p) = principal {
        request.extensions_mut().insert(P(p.to_owned()));
    }
    request
}
