#![doc = include_str!("../README.md")]

mod collectors;
mod config;
mod error;
mod exposition;
mod handle;
mod labels;
mod middleware;
mod recorder;

/// The `prometheus-client` this crate registers into: use its metric types
/// for business metrics, so that versions cannot drift apart.
pub use prometheus_client;

pub use self::{
    config::{DEFAULT_DURATION_BUCKETS, DEFAULT_SIZE_BUCKETS, MetricsBuilder},
    error::{ConfigError, GuardError, RegisterError},
    exposition::{BasicAuth, Format, IpAllowList, MetricsService},
    handle::Metrics,
    labels::{RouteLabel, StatusLabels},
    middleware::{MetricsBody, MetricsLayer, MetricsMiddleware, ResponseFuture},
};
