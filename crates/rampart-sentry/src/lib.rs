#![doc = include_str!("../README.md")]

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
    error::ConfigError,
    identity::{FromExtension, Identify, Identity, SentryIdentityLayer, SentryIdentityService},
    route::RouteLabel,
};
/// The Sentry SDK this crate is built on, for `sentry::capture_error` and
/// the protocol types without a second dependency to keep in step.
pub use sentry;
/// sentry-tower's `NewSentryLayer` and `SentryHttpLayer`, which go outside
/// [`SentryContextLayer`].
pub use sentry_tower;
