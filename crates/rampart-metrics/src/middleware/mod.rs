//! Middleware which records the HTTP series of every request it wraps:
//! `http_requests_total{method,route,status}`,
//! `http_request_duration_seconds{method,route}`, `http_requests_in_flight`,
//! and optionally the body sizes.
//!
//! A request ends when its response body has been sent to the end or
//! dropped (the client went away mid-body): that is when its duration is
//! observed, it is counted, and the in-flight gauge falls. A request whose
//! future is dropped before the response started is counted with status
//! `499` (nginx's "client closed request").
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use http_body_util::BodyExt;
//! use rampart_metrics::{Format, Metrics, RouteLabel};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let metrics = Metrics::new();
//! let service = ServiceBuilder::new()
//!     .layer(metrics.layer())
//!     .service(service_fn(|_req: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     }));
//!
//! let mut request = Request::get("/users/42").body(String::new()).unwrap();
//! request.extensions_mut().insert(RouteLabel::from_static("/users/{id}"));
//! let response = service.oneshot(request).await.unwrap();
//! // Counted once the body is read (or dropped).
//! response.into_body().collect().await.unwrap();
//!
//! let text = metrics.encode(Format::Text);
//! assert!(text.contains(r#"http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#));
//! assert!(text.contains("http_requests_in_flight 0"));
//! # }
//! ```

mod body;
mod future;
mod layer;
mod service;

pub use self::{
    body::MetricsBody, future::ResponseFuture, layer::MetricsLayer, service::MetricsService,
};
