#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

mod allowed;
mod config;
mod decide;
mod error;
mod future;
mod handle;
mod layer;
mod origin;
mod pattern;
mod policy;
mod service;
mod stats;

pub use self::{
    allowed::AllowedOrigins,
    config::CorsConfig,
    error::{CorsConfigError, CorsConfigIssue},
    future::ResponseFuture,
    handle::CorsHandle,
    layer::CorsLayer,
    origin::{Origin, OriginError, Scheme},
    pattern::{OriginPattern, PatternError},
    service::CorsService,
    stats::CorsStats,
};
