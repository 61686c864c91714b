#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

mod body;
pub mod breaker;
pub mod client_ip;
mod clock;
mod problem;
mod route;

pub use self::{
    body::ResponseBody,
    breaker::{BreakerConfig, BreakerState, BreakerStats, CircuitBreaker, Permit},
    client_ip::{
        ClientIp, ClientIpConfig, ClientIpConfigError, ClientIpLayer, ClientIpResolver,
        ClientIpService, ClientIpSource, ForwardedHeader, ParseForwardedHeaderError,
        TrustedProxies, TrustedProxiesError, normalize_ip, peer_addr,
    },
    clock::{Clock, ManualClock, SystemClock},
    problem::{PROBLEM_JSON, Problem},
    route::RouteLabel,
};
