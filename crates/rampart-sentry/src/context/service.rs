//! The service: records the request's context when Sentry is active.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use sentry::Hub;
use tower_service::Service;

use super::{
    ResponseFuture, SentryContextLayer,
    layer::Shared,
    scope::{Recorded, RequestScope, request_id},
    trace,
};
use crate::route::route_of;

/// Middleware which gives each request a Sentry hub with the request's
/// context and captures 5xx responses and errors. Made by
/// [`SentryContextLayer`](crate::SentryContextLayer).
///
/// Per request, when a Sentry client is active: records method, route
/// template and `x-request-id` in a shared handle it puts in the request's
/// extensions (for [`SentryIdentityLayer`](crate::SentryIdentityLayer)),
/// and polls the inner service with its own hub bound, whose event processor
/// adds that context to every event of the request. A 5xx response, or an
/// `Err` of the inner service (its `Display` text, scrubbed), becomes one
/// event unless the request already sent one. Without an active client it
/// calls the inner service and does nothing else: no allocation, no lock.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use rampart_sentry::{SentryContextLayer, SentryContextService};
/// use tower::{ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handler = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new("ok")) });
/// let service = SentryContextService::new(handler, &SentryContextLayer::new());
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(*response.body(), "ok");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SentryContextService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> SentryContextService<S> {
    /// Wraps `inner` with `layer`'s settings; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    pub fn new(inner: S, layer: &SentryContextLayer) -> Self {
        Self {
            inner,
            shared: Arc::clone(&layer.shared),
        }
    }

    /// Returns a new [`Layer`](tower_layer::Layer) that wraps services with a
    /// [`SentryContextService`]; the same as [`SentryContextLayer::new`].
    pub fn layer() -> SentryContextLayer {
        SentryContextLayer::new()
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

// `Display` on the error: an error becomes an event with its text. Every
// error type of the ecosystem has it (`Infallible`, `BoxError`, `io::Error`).
impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SentryContextService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // A thread-local read and a read lock: the whole cost when Sentry
        // is off (no DSN, or `init` not called).
        if !Hub::with_active(|_| true) {
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        let scope = RequestScope::new(Recorded {
            method: Some(request.method().clone()),
            route: route_of(request.extensions()).map(str::to_owned),
            request_id: request_id(request.headers()),
            user_id: None,
            tenant: None,
        });
        request.extensions_mut().insert(scope.clone());
        let transaction_request = trace::tracing_enabled().then(|| trace::request_data(&request));
        ResponseFuture::tracked(
            self.inner.call(request),
            scope,
            self.shared.clone(),
            transaction_request,
        )
    }
}
