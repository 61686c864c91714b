//! The identity service: no response work, so no future of its own.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::Request;
use tower_service::Service;

use super::{Identify, Identity, SentryIdentityLayer};
use crate::{
    context::scope::{RequestScope, request_id},
    route::route_of,
};

/// Middleware which records who made the request. Made by
/// [`SentryIdentityLayer`].
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use rampart_sentry::{Identity, SentryIdentityLayer, SentryIdentityService};
/// use tower::{ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = SentryIdentityLayer::from_extension(|id: &u64| Identity::user(id.to_string()));
/// let handler = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
/// let service = SentryIdentityService::new(handler, &layer);
/// assert!(service.oneshot(Request::new(())).await.is_ok());
/// # }
/// ```
pub struct SentryIdentityService<S, I> {
    inner: S,
    identify: Arc<I>,
}

impl<S, I> SentryIdentityService<S, I> {
    /// Wraps `inner` with `layer`'s identify function; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    pub fn new(inner: S, layer: &SentryIdentityLayer<I>) -> Self {
        Self {
            inner,
            identify: Arc::clone(&layer.identify),
        }
    }

    /// Returns a new [`Layer`](tower_layer::Layer) that wraps services with a
    /// [`SentryIdentityService`]; the same as [`SentryIdentityLayer::new`].
    pub fn layer(identify: I) -> SentryIdentityLayer<I> {
        SentryIdentityLayer {
            identify: Arc::new(identify),
        }
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

impl<S: Clone, I> Clone for SentryIdentityService<S, I> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            identify: self.identify.clone(),
        }
    }
}

impl<S: fmt::Debug, I> fmt::Debug for SentryIdentityService<S, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentryIdentityService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, I, ReqBody> Service<Request<ReqBody>> for SentryIdentityService<S, I>
where
    S: Service<Request<ReqBody>>,
    I: Identify,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if let Some(scope) = request.extensions().get::<RequestScope>() {
            let identity = self.identify.identify(request.extensions());
            let route = route_of(request.extensions());
            scope.with(|recorded| {
                if let Some((user_id, tenant)) = identity.map(Identity::into_parts) {
                    recorded.user_id = user_id.or(recorded.user_id.take());
                    recorded.tenant = tenant.or(recorded.tenant.take());
                }
                if let Some(route) = route {
                    if recorded.route.as_deref() != Some(route) {
                        recorded.route = Some(route.to_owned());
                    }
                }
                if recorded.request_id.is_none() {
                    recorded.request_id = request_id(request.headers());
                }
            });
        }
        self.inner.call(request)
    }
}
