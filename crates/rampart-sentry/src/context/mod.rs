//! Middleware which gives each request a Sentry hub with the request's
//! context, and captures 5xx responses, errors and panics with it.
//!
//! Two layers, because the request's user is known only after the app's
//! authentication has run, further in than the Sentry layers sit:
//!
//! - [`SentryContextLayer`], outermost after sentry-tower's layers: binds a
//!   hub of the request's own, records method, route and `x-request-id`,
//!   and captures a 5xx response, or an `Err` the inner service returns
//!   instead of a response, as an event when nothing else was captured for
//!   the request;
//! - [`SentryIdentityLayer`](crate::SentryIdentityLayer), right after the
//!   app's authentication: reads the principal from the request's extensions
//!   and records user id and tenant (and route and request id, which are
//!   there by then) in the handle the context layer put in the extensions.
//!
//! Every event of the request, wherever it is captured while the request is
//! served (a 5xx or an error here, a panic, the handler's `sentry::capture_error`),
//! carries: the user id (never email or name), tags `tenant`, `request_id`,
//! `http.route`, `http.method`, and, with `SentryHttpLayer`, the request's
//! method, URL and headers (scrubbed before send, see [`scrub`](crate::scrub)).
//!
//! # The order, outermost first
//!
//! 1. `sentry_tower::NewSentryLayer::new_from_top()`: a hub per request;
//! 2. `sentry_tower::SentryHttpLayer::new()` (optionally
//!    `.enable_transaction()`): request data, performance transactions;
//! 3. [`SentryContextLayer`];
//! 4. tower-http `SetRequestIdLayer` / `PropagateRequestIdLayer`, trace, and
//!    the rest of the stack;
//! 5. the app's authentication, then [`SentryIdentityLayer`](crate::SentryIdentityLayer);
//! 6. tower-http `CatchPanicLayer`, then the handler.
//!
//! # Panics
//!
//! A panicking handler is reported by the Sentry SDK's panic integration
//! (installed by [`SentryConfig::init`](crate::SentryConfig::init)): its hook
//! captures the panic on the hub current in the panicking thread, which is
//! this request's hub while the handler is polled, so the event has the
//! request's context. tower-http's `CatchPanicLayer` then turns the panic
//! into a `500` for the client (without it the connection is dropped); the
//! context layer sees that the request already has an event and does not
//! report the 500 again. `CatchPanicLayer` may sit anywhere inside
//! [`SentryContextLayer`]; right before the handler keeps the other layers'
//! work (CORS, security headers, metrics) on the 500.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use rampart_sentry::{Identity, SentryContextLayer, SentryIdentityLayer};
//! use sentry_tower::{NewSentryLayer, SentryHttpLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! #[derive(Clone)]
//! struct Principal { user_id: String, org_id: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(NewSentryLayer::<Request<()>>::new_from_top())
//!     .layer(SentryHttpLayer::new())
//!     .layer(SentryContextLayer::new())
//!     // ... the app's authentication layer inserts `Principal` here ...
//!     .map_request(|mut req: Request<()>| {
//!         req.extensions_mut().insert(Principal { user_id: "u1".into(), org_id: "o1".into() });
//!         req
//!     })
//!     .layer(SentryIdentityLayer::from_extension(|p: &Principal| {
//!         Identity::user(&p.user_id).with_tenant(&p.org_id)
//!     }))
//!     .service(service_fn(|_req: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(()))
//!     }));
//! let response = service.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! # }
//! ```

mod future;
mod layer;
pub(crate) mod scope;
mod service;
mod trace;

pub use self::{future::ResponseFuture, layer::SentryContextLayer, service::SentryContextService};
