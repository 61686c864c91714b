//! `Tenant` as an axum extractor.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use rampart_core::Problem;

use crate::{PROBLEM_TYPE, Tenant};

/// The rejection of the `Tenant` extractor: 401 problem+json, the request
/// has no tenant (the route needs one; the [`TenantLayer`](crate::TenantLayer)
/// is [optional](crate::TenantLayerBuilder::optional) or missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingTenant;

impl IntoResponse for MissingTenant {
    fn into_response(self) -> Response {
        Problem::new(StatusCode::UNAUTHORIZED)
            .with_type(PROBLEM_TYPE)
            .with_title("Tenant required")
            .with_detail("this request must be made on behalf of an organization")
            .into_response::<axum::body::Body>()
    }
}

/// ```
/// use axum::{Router, body::Body, http::Request, routing::get};
/// use rampart_tenant::{Tenant, TenantLayer};
/// use tower::ServiceExt;
///
/// async fn usage(tenant: Tenant) -> String {
///     tenant.id().to_string()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new()
///     .route("/t/{tenant}/usage", get(usage))
///     .route("/health", get(|| async { "ok" }))
///     .layer(TenantLayer::builder().from_path_prefix("/t/").optional().build().unwrap());
///
/// let response = app.clone().oneshot(Request::get("/t/acme/usage").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 200);
/// let response = app.oneshot(Request::get("/health").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = MissingTenant;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or(MissingTenant)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Tenant {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}
