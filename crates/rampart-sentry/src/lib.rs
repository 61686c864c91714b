#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

mod config;
pub mod context;
mod error;
pub mod identity;
mod route;
pub mod scrub;

pub use self::{
    config::{
        DEFAULT_TRACES_SAMPLE_RATE, ENVIRONMENT, SENTRY_DSN, SENTRY_ENVIRONMENT, SENTRY_RELEASE,
        SENTRY_TRACES_SAMPLE_RATE, SentryConfig, SentryGuard,
    },
    context::{SentryContextLayer, SentryContextService},
    error::SentryConfigError,
    identity::{FromExtension, Identify, Identity, SentryIdentityLayer, SentryIdentityService},
};
/// The route template a request matched (`/calls/{id}`), as a request
/// extension: set it in the router of a stack that is not axum (or where
/// axum's `MatchedPath` is not in the request yet); the layers read it as
/// the `http.route` tag, after `MatchedPath` with the `axum` feature. Never
/// the raw path: `/calls/8f3c...` would make every request its own issue.
/// The same type as `rampart_core::RouteLabel`, so one label inserted is
/// read by rampart-metrics as well.
pub use rampart_core::RouteLabel;
/// The Sentry SDK this crate is built on, for `sentry::capture_error` and
/// the protocol types without a second dependency to keep in step.
pub use sentry;
/// sentry-tower's `NewSentryLayer` and `SentryHttpLayer`, which go outside
/// [`SentryContextLayer`].
pub use sentry_tower;
