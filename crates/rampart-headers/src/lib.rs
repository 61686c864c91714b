#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]

mod builder;
mod compiled;
mod config;
pub mod csp;
mod error;
mod future;
mod hsts;
mod layer;
pub mod report;
mod service;
mod values;

pub use self::{
    builder::{InsertHeaderMode, SecurityHeaders},
    config::{RouteConfig, SecurityHeadersConfig},
    csp::CspNonce,
    error::SecurityHeadersConfigError,
    future::ResponseFuture,
    hsts::{Hsts, HttpsConnection},
    layer::SecurityHeadersLayer,
    service::SecurityHeadersService,
    values::{
        CrossOriginOpenerPolicy, CrossOriginResourcePolicy, FrameOptions, Preset, ReferrerPolicy,
    },
};
