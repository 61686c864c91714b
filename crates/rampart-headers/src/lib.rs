#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

mod compiled;
mod config;
pub mod csp;
mod error;
mod future;
mod hsts;
mod layer;
pub mod report;
mod security_headers;
mod service;
mod values;

pub use self::{
    config::{RouteConfig, SecurityHeadersConfig},
    csp::CspNonce,
    error::SecurityHeadersConfigError,
    future::ResponseFuture,
    hsts::{Hsts, HttpsConnection},
    layer::SecurityHeadersLayer,
    security_headers::{InsertHeaderMode, SecurityHeaders},
    service::SecurityHeadersService,
    values::{
        CrossOriginOpenerPolicy, CrossOriginResourcePolicy, FrameOptions, Preset, ReferrerPolicy,
    },
};
