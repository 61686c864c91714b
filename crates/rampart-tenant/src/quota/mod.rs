//! Middleware which enforces a tenant's quotas on the routes it wraps:
//! requests in flight at once, and units per calendar month.

mod body;
mod future;
mod layer;
pub(crate) mod monthly;
mod quotas;
mod service;
mod slots;

pub use self::{
    body::QuotaBody,
    future::QuotaFuture,
    layer::QuotaLayer,
    quotas::{ChargeError, Quotas},
    service::QuotaService,
};
