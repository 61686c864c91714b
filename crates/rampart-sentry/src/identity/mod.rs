//! Middleware which records who made the request (user id and tenant) for
//! the request's Sentry events. Placed right after the app's
//! authentication, which puts its principal in the request's extensions.
//!
//! The context layer sits outermost, before authentication has run, and the
//! request's extensions do not travel back out with the response: so this
//! second, inner layer reads the principal where it is, and writes user and
//! tenant into the handle that [`SentryContextLayer`](crate::SentryContextLayer)
//! put in the extensions. Every event of the request, captured before or
//! after, reads that handle when it is sent. It also records the route
//! template (axum's `MatchedPath` or a [`RouteLabel`](crate::RouteLabel)) and
//! the `x-request-id` if the outer layer could not see them yet.
//!
//! Without a context layer outside (or without an active Sentry client) it
//! does nothing and never calls the identify function.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Extensions, Request, Response};
//! use rampart_sentry::{Identity, SentryIdentityLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! #[derive(Clone)]
//! struct ApiKeyOwner(u64);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Any function of the extensions works, for stacks with several kinds of principal.
//! let identity = SentryIdentityLayer::new(|ext: &Extensions| {
//!     ext.get::<ApiKeyOwner>().map(|owner| Identity::user(owner.0.to_string()))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(identity)
//!     .service(service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }));
//! assert!(service.oneshot(Request::new(())).await.is_ok());
//! # }
//! ```

mod identify;
mod layer;
mod service;

pub use self::{
    identify::{FromExtension, Identify, Identity},
    layer::SentryIdentityLayer,
    service::SentryIdentityService,
};
