//! The layer: what to capture, shared by every clone.

use std::sync::Arc;

use tower_layer::Layer;

use super::SentryContextService;

/// Settings every clone of the service shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) capture_server_errors: bool,
    /// Route templates whose 5xx responses and errors are not events (readiness
    /// probes answer 503 by design).
    pub(crate) ignored_routes: Vec<String>,
}

impl Shared {
    pub(crate) fn captures(&self, route: Option<&str>) -> bool {
        self.capture_server_errors
            && !route.is_some_and(|route| self.ignored_routes.iter().any(|r| r == route))
    }
}

/// Gives each request its own Sentry hub carrying the request's context
/// (method, route, request id, and the user and tenant that a
/// [`SentryIdentityLayer`](crate::SentryIdentityLayer) further in records),
/// and captures 5xx responses, and errors the inner service returns instead
/// of a response, as events (one per request at most). Cheap to clone.
///
/// Place it inside sentry-tower's `NewSentryLayer` and `SentryHttpLayer`
/// (see the [module docs](crate::context) for the whole order). Without an
/// active Sentry client it is a pass-through.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use rampart_sentry::SentryContextLayer;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = ServiceBuilder::new()
///     .layer(SentryContextLayer::new())
///     .service(service_fn(|_req: Request<()>| async {
///         let mut response = Response::new(());
///         *response.status_mut() = StatusCode::BAD_GATEWAY;
///         Ok::<_, Infallible>(response)
///     }));
/// // No client is bound in this example: the layer only passes through.
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SentryContextLayer {
    pub(crate) shared: Arc<Shared>,
}

impl SentryContextLayer {
    /// Records the request's context and captures 5xx responses and errors.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                capture_server_errors: true,
                ignored_routes: Vec::new(),
            }),
        }
    }

    /// Whether a 5xx response, or an `Err` of the inner service, becomes an
    /// event (default `true`). A request that already captured an event (a
    /// panic, or the handler's own `capture_error`) is never captured a
    /// second time.
    pub fn capture_server_errors(self, capture: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                capture_server_errors: capture,
                ignored_routes: self.shared.ignored_routes.clone(),
            }),
        }
    }

    /// No event for a 5xx or an error of this route template (as axum's `MatchedPath`
    /// or a [`RouteLabel`](crate::RouteLabel) names it), such as a readiness
    /// probe that answers 503 while a dependency is down. Panics and the
    /// handler's own events are still sent.
    ///
    /// ```
    /// let layer = rampart_sentry::SentryContextLayer::new().ignore_route("/ready");
    /// # let _ = layer;
    /// ```
    pub fn ignore_route(self, route: impl Into<String>) -> Self {
        let mut ignored_routes = self.shared.ignored_routes.clone();
        ignored_routes.push(route.into());
        Self {
            shared: Arc::new(Shared {
                capture_server_errors: self.shared.capture_server_errors,
                ignored_routes,
            }),
        }
    }
}

impl Default for SentryContextLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for SentryContextLayer {
    type Service = SentryContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SentryContextService::new(inner, self)
    }
}
