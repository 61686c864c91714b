//! The service: classifies each request as Fetch does and decides in `call`.

use std::{
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll},
};

use http::{
    Method, Request, Response,
    header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN},
};
use rampart_core::ResponseBody;
use tower_service::Service;

use crate::{CorsLayer, ResponseFuture, layer::Shared};

/// Middleware which applies an allow-list CORS policy; made by [`CorsLayer`].
///
/// Requests are classified as the Fetch standard does:
///
/// * no `Origin`: not a CORS request; passed on, and only `Vary: Origin` is added;
/// * `OPTIONS` with `Origin` and `Access-Control-Request-Method`: a preflight,
///   answered here (204 or 403) and never passed on;
/// * anything else with `Origin` (any other `OPTIONS` included): passed on;
///   the response, whoever made it, gets the CORS headers the origin is due.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Method, Request, Response, StatusCode, header};
/// use rampart_cors::{CorsConfig, CorsLayer};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = CorsLayer::new(
///     &CorsConfig::new()
///         .allow_origin("https://app.example.com")
///         .allow_methods(["PUT"])
///         .allow_headers(["content-type"]),
/// )
/// .unwrap();
/// let service = layer.layer(service_fn(|_req: Request<String>| async {
///     Ok::<_, Infallible>(Response::new(String::new()))
/// }));
///
/// let preflight = Request::builder()
///     .method(Method::OPTIONS)
///     .header(header::ORIGIN, "https://app.example.com")
///     .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
///     .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
///     .body(String::new())
///     .unwrap();
/// let response = service.clone().oneshot(preflight).await.unwrap();
/// assert_eq!(response.status(), StatusCode::NO_CONTENT);
/// assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], "PUT");
///
/// let refused = Request::builder()
///     .method(Method::OPTIONS)
///     .header(header::ORIGIN, "https://evil.example")
///     .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
///     .body(String::new())
///     .unwrap();
/// let response = service.oneshot(refused).await.unwrap();
/// assert_eq!(response.status(), StatusCode::FORBIDDEN);
/// assert!(response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CorsService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> CorsService<S> {
    /// Wraps `inner` with `layer`'s policy; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    pub fn new(inner: S, layer: &CorsLayer) -> Self {
        Self {
            inner,
            shared: Arc::clone(&layer.shared),
        }
    }

    /// Returns a new [`Layer`](tower_layer::Layer) that wraps services with a
    /// [`CorsService`] middleware; the same as [`CorsLayer::new`].
    pub fn layer(config: &crate::CorsConfig) -> Result<CorsLayer, crate::CorsConfigError> {
        CorsLayer::new(config)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CorsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // One load per request: the whole decision uses one policy even while
        // a `CorsHandle` swaps in another.
        let policy = self.shared.policy.load();
        let headers = req.headers();
        let mut origins = headers.get_all(ORIGIN).iter();
        let Some(first) = origins.next() else {
            let decoration = policy.without_origin();
            return ResponseFuture::inner(self.inner.call(req), decoration);
        };
        // Several `Origin` headers: no browser sends that; allow nothing.
        let origin = origins.next().is_none().then_some(first);
        if req.method() == Method::OPTIONS && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
            let debug = self.shared.debug.load(Ordering::Relaxed);
            let response = policy.preflight(origin, headers, debug);
            self.shared.stats.preflight(response.status().is_success());
            return ResponseFuture::respond(response);
        }
        let decoration = policy.actual(origin);
        if !decoration.allows_origin() {
            self.shared.stats.disallowed();
        }
        ResponseFuture::inner(self.inner.call(req), decoration)
    }
}
