//! Telephony: placing and ending calls through Twilio or Telnyx, with
//! failover and a circuit breaker per provider, or through a simulator
//! (the embedded default, no account needed).
//!
//! - [`Provider`], the trait; [`TwilioProvider`], [`TelnyxProvider`],
//!   [`SimulatedProvider`] implement it.
//! - [`TelephonyManager`] tries providers in order, failing over on a
//!   timeout, an unreachable provider, a 5xx or a 429, never on the
//!   caller's own errors (other 4xx).
//! - [`TelephonyMetrics`] counts `provider_failures_total{provider}`,
//!   `call_duration_seconds`, `campaign_executions_total`.
//! - [`TelephonyArgs`] reads `TELEPHONY_*`, `TWILIO_*`, `TELNYX_*`.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use operator_demo::telephony::{CallRequest, TelephonyManager};
//!
//! let manager = TelephonyManager::simulated();
//! let to = "+14155550100".parse().unwrap();
//! let call = CallRequest::new(to, manager.from_number().clone());
//! let started = manager.start_call(Some("twilio"), &call).await.unwrap();
//! assert_eq!(started.provider, "simulated");
//! # }
//! ```

mod http;
mod manager;
mod metrics;
mod phone;
mod provider;
mod simulated;
mod telnyx;
mod twilio;

pub use self::{
    manager::{SIMULATED_FROM_NUMBER, TelephonyError, TelephonyManager, TelephonyManagerBuilder},
    metrics::TelephonyMetrics,
    phone::{InvalidPhoneNumber, PhoneNumber},
    provider::{
        CallRequest, CallStatus, DEFAULT_TWIML, Provider, ProviderError, ProviderFuture,
        StartedCall,
    },
    simulated::SimulatedProvider,
    telnyx::{TELNYX_BASE_URL, TelnyxProvider},
    twilio::{TWILIO_BASE_URL, TwilioProvider},
};
/// The settings (`TELEPHONY_*`, `TWILIO_*`, `TELNYX_*`) live in
/// [`config::telephony`](crate::config::telephony).
pub use crate::config::telephony::{ProviderKind, TelephonyArgs, TelephonyConfigError};
/// How each provider's circuit breaker trips and recovers, and its state:
/// rampart-core's breaker, the one the rate limiter and the database use.
pub use rampart::core::{BreakerConfig, BreakerState};
