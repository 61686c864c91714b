#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

mod builder;
mod collectors;
mod endpoint;
mod error;
mod labels;
mod metrics;
mod middleware;
mod recorder;

/// The `prometheus-client` this crate registers into: use its metric types
/// for business metrics, so that versions cannot drift apart.
pub use prometheus_client;
/// The `route` label a request is counted under, when the router is not
/// axum (or the app wants another name): insert it in the request's
/// extensions before the request reaches [`MetricsLayer`], or in the
/// response's extensions on the way out; requests with none are counted as
/// `unmatched`. The same type as `rampart_core::RouteLabel`, so one label
/// inserted is read by rampart-sentry as well.
pub use rampart_core::RouteLabel;

pub use self::{
    builder::{DEFAULT_DURATION_BUCKETS, DEFAULT_SIZE_BUCKETS, MetricsBuilder},
    endpoint::{BasicAuth, Format, IpAllowList, MetricsEndpoint},
    error::{GuardError, MetricsConfigError, RegisterError},
    labels::StatusLabels,
    metrics::Metrics,
    middleware::{MetricsBody, MetricsLayer, MetricsService, ResponseFuture},
};
