//! `GET /`: what this service is and where to go next.

use axum::{Json, response::IntoResponse};
use serde_json::json;

/// `GET /`: `200` with the service's name, version and the paths a client
/// or an operator starts from. A scanner or a person who opens the bare URL
/// gets an answer instead of a 404.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::response::IntoResponse;
///
/// let response = operator_demo::routes::index::index().await.into_response();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
pub async fn index() -> impl IntoResponse {
    Json(json!({
        "service": "operator-demo",
        "version": env!("CARGO_PKG_VERSION"),
        "links": { "health": "/health", "ready": "/ready" },
    }))
}
