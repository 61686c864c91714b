//! The response cache: [`CacheLayer`], [`CacheService`], their
//! configuration and body.

mod body;
mod config;
mod entry;
mod future;
#[allow(clippy::module_inception)] // the house shape: layer.rs in every middleware's folder
mod layer;
mod miss;
mod respond;
pub(crate) mod route;
mod service;

pub use self::{
    body::CacheBody,
    config::{CacheConfig, CacheRoute, CacheScope, DEFAULT_TTL},
    future::ResponseFuture,
    layer::{CacheLayer, CacheLayerBuilder},
    service::CacheService,
};
