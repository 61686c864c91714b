//! Answers for requests no route takes: problem+json, like every other error.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use rampart::core::Problem;

/// `404 Not Found` as problem+json.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let response = operator_demo::routes::fallback::not_found().await;
/// assert_eq!(response.status(), 404);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// # }
/// ```
pub async fn not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND)
        .with_detail("no route matches this path")
        .into_response::<axum::body::Body>()
        .into_response()
}

/// `405 Method Not Allowed` as problem+json, for a path that exists with
/// another method.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let response = operator_demo::routes::fallback::method_not_allowed().await;
/// assert_eq!(response.status(), 405);
/// # }
/// ```
pub async fn method_not_allowed() -> Response {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail("this path does not take this method")
        .into_response::<axum::body::Body>()
        .into_response()
}
