//! The service: decides per request, applies per response.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_service::Service;

use crate::{
    CspNonce, ResponseFuture, SecurityHeadersLayer, compiled::Selected, future::Apply,
    hsts::is_https, layer::Shared,
};

/// Middleware which sets security headers on every response of the wrapped
/// service. Made by [`SecurityHeadersLayer`](crate::SecurityHeadersLayer).
///
/// Per request it picks the route's policy, decides whether the request is
/// HTTPS (only when HSTS depends on it), makes a [`CspNonce`] (only when the
/// policy has one) and puts it in the request's extensions. The response's
/// headers are then merged with the rendered set.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use rampart_headers::{SecurityHeadersLayer, SecurityHeadersService};
/// use tower::{ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handler = service_fn(|_req: Request<()>| async {
///     let mut response = Response::new(());
///     // The handler's own value wins by default.
///     response.headers_mut().insert("x-frame-options", "SAMEORIGIN".parse().unwrap());
///     Ok::<_, Infallible>(response)
/// });
/// let service = SecurityHeadersService::new(handler, &SecurityHeadersLayer::api());
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.headers()["x-frame-options"], "SAMEORIGIN");
/// assert_eq!(response.headers()["referrer-policy"], "no-referrer");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SecurityHeadersService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> SecurityHeadersService<S> {
    /// Wraps `inner` with `layer`'s headers; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    pub fn new(inner: S, layer: &SecurityHeadersLayer) -> Self {
        Self {
            inner,
            shared: Arc::clone(&layer.shared),
        }
    }

    /// Returns a new [`Layer`](tower_layer::Layer) that wraps services with a
    /// [`SecurityHeadersService`]; the same as [`SecurityHeadersLayer::new`].
    ///
    /// ```
    /// use rampart_headers::{SecurityHeaders, SecurityHeadersService};
    ///
    /// let layer = SecurityHeadersService::<()>::layer(SecurityHeaders::api()).unwrap();
    /// # let _ = layer;
    /// ```
    pub fn layer(
        policy: crate::SecurityHeaders,
    ) -> Result<SecurityHeadersLayer, crate::SecurityHeadersConfigError> {
        SecurityHeadersLayer::new(policy)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityHeadersService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let selected = self.shared.routes.select(request.uri().path());
        let Some(compiled) = self.shared.compiled(selected) else {
            return ResponseFuture::new(self.inner.call(request), None);
        };
        let https = compiled.needs_scheme && is_https(&request, &self.shared.trusted_proxies);
        let nonce = compiled.nonce_wanted().then(|| {
            let nonce = CspNonce::generate();
            request.extensions_mut().insert(nonce);
            nonce
        });
        let apply = Apply {
            shared: self.shared.clone(),
            selected: match selected {
                Selected::Exempt => Selected::Base,
                other => other,
            },
            https,
            nonce,
        };
        ResponseFuture::new(self.inner.call(request), Some(apply))
    }
}
