//! The layer: which of the tenant's quotas the routes it wraps take.

use std::sync::Arc;

use tower_layer::Layer;

use super::{QuotaService, Quotas};

/// Marks the routes it wraps as needing a tenant and, as configured,
/// taking one of the tenant's concurrency slots and one unit of a monthly
/// quota per request. Place it below a [`TenantLayer`](crate::TenantLayer)
/// (with axum: `route_layer` on the marked routes).
///
/// - No tenant in the request: 401 problem+json.
/// - [`concurrent`](Self::concurrent): the tenant already has
///   [`max_concurrent`](crate::Limits::max_concurrent) requests in flight
///   on marked routes: 429 problem+json (no `Retry-After`: a slot frees
///   when any of them ends). The slot is held until the response body has
///   been sent, fails, or is dropped (a client that disconnects).
/// - [`monthly`](Self::monthly): the tenant's quota for this calendar
///   month (UTC) is spent: 429 with `Retry-After` until the month ends.
///   The unit is charged before the handler runs (a request refused by
///   concurrency is not charged). The store failing: 503.
///
/// Quotas the tenant's [`Limits`](crate::Limits) do not set are not
/// enforced.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use rampart_tenant::{Limits, Quotas, TenantLayer};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let quotas = Quotas::default();
/// let service = ServiceBuilder::new()
///     .layer(
///         TenantLayer::builder()
///             .from_path_prefix("/t/")
///             .default_limits(Limits::new().monthly("calls", 1))
///             .build()
///             .unwrap(),
///     )
///     .layer(quotas.layer().monthly("calls"))
///     .service(service_fn(|_req: Request<()>| async {
///         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("placed"))))
///     }));
///
/// let call = || Request::post("/t/acme/calls").body(()).unwrap();
/// assert_eq!(service.clone().oneshot(call()).await.unwrap().status(), StatusCode::OK);
/// let refused = service.oneshot(call()).await.unwrap();
/// assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert!(refused.headers().contains_key("retry-after"));
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct QuotaLayer {
    pub(crate) quotas: Quotas,
    pub(crate) concurrent: bool,
    pub(crate) monthly: Option<Arc<str>>,
}

impl QuotaLayer {
    /// Each request takes one of the tenant's concurrency slots.
    pub fn concurrent(mut self) -> Self {
        self.concurrent = true;
        self
    }

    /// Each request uses one unit of the tenant's monthly quota `name`.
    pub fn monthly(mut self, name: impl Into<String>) -> Self {
        self.monthly = Some(Arc::from(name.into()));
        self
    }
}

impl<S> Layer<S> for QuotaLayer {
    type Service = QuotaService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        QuotaService::new(inner, self)
    }
}
