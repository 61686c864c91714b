//! Middleware which resolves the request's tenant through a chain of
//! sources, checks it with the app's lookup, and makes it reachable from
//! handlers (extension, extractor), deep code (task-local) and logs (span).

mod builder;
mod error;
mod future;
mod layer;
mod respond;
mod service;
mod source;

pub use self::{
    builder::TenantLayerBuilder,
    error::{TenantConfigError, TenantConfigIssue},
    future::ResponseFuture,
    layer::TenantLayer,
    service::TenantService,
    source::TenantSource,
};
pub(crate) use self::{layer::Shared, respond::missing as missing_tenant};
