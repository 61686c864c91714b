//! The `/metrics` endpoint: format negotiation and the guards.

mod accept;
mod guard;
mod service;

pub use self::{
    accept::Format,
    guard::{BasicAuth, IpAllowList},
    service::MetricsEndpoint,
};
