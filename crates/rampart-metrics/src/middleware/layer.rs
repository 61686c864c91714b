//! The layer: a handle on the HTTP series that every service it makes shares.

use std::sync::Arc;

use tower_layer::Layer;

use crate::{Metrics, MetricsService, recorder::HttpMetrics};

/// Layer that records the HTTP series of every request into a [`Metrics`]
/// registry; made by [`Metrics::layer`].
///
/// Put it outside everything that can answer (rate limiter, CORS, auth), so
/// that their rejections are counted too. With axum, add it with
/// `Router::layer` so that the route template (`MatchedPath`, feature `axum`)
/// is known.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use rampart_metrics::{Format, Metrics, MetricsLayer};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let metrics = Metrics::new();
/// let service = ServiceBuilder::new()
///     .layer(MetricsLayer::new(&metrics))
///     .service(service_fn(|_req: Request<String>| async {
///         Ok::<_, Infallible>(Response::new(String::new()))
///     }));
/// let response = service.oneshot(Request::get("/x").body(String::new()).unwrap()).await.unwrap();
/// assert!(metrics.encode(Format::Text).contains("http_requests_in_flight 1"));
/// drop(response);
/// assert!(metrics.encode(Format::Text).contains(r#"route="unmatched",status="200"} 1"#));
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsLayer {
    pub(crate) http: Arc<HttpMetrics>,
}

impl MetricsLayer {
    /// A layer that records into `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            http: Arc::clone(metrics.http()),
        }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService::new(inner, self)
    }
}
