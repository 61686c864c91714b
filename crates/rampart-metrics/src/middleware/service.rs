//! The service: starts a tracker in `call`, hands it to the future.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_service::Service;

use crate::{
    Metrics, MetricsLayer, ResponseFuture,
    recorder::{HttpMetrics, Tracker},
};

/// Middleware which records the HTTP series of each request; made by
/// [`MetricsLayer`].
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use rampart_metrics::{Format, Metrics, MetricsLayer, MetricsService};
/// use tower::{ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let metrics = Metrics::new();
/// let service = MetricsService::new(
///     service_fn(|_req: Request<String>| async {
///         let mut response = Response::new(String::new());
///         *response.status_mut() = StatusCode::NOT_FOUND;
///         Ok::<_, Infallible>(response)
///     }),
///     &MetricsLayer::new(&metrics),
/// );
/// drop(service.oneshot(Request::get("/nope").body(String::new()).unwrap()).await.unwrap());
/// assert!(metrics.encode(Format::Text).contains(r#"status="404"} 1"#));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    http: Arc<HttpMetrics>,
}

impl<S> MetricsService<S> {
    /// Wraps `inner`, recording where `layer` does; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    pub fn new(inner: S, layer: &MetricsLayer) -> Self {
        Self {
            inner,
            http: Arc::clone(&layer.http),
        }
    }

    /// Returns a new [`Layer`](tower_layer::Layer) that wraps services with a
    /// [`MetricsService`]; the same as [`Metrics::layer`].
    pub fn layer(metrics: &Metrics) -> MetricsLayer {
        MetricsLayer::new(metrics)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<crate::MetricsBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let tracker = Tracker::start(&self.http, &req);
        ResponseFuture::new(self.inner.call(req), tracker)
    }
}
