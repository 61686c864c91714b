//! The sessions' view of telephony: place a call, hang it up.
//!
//! TODO(auth helper): `crate::telephony::TelephonyManager` (Twilio and Telnyx
//! with failover, simulated by default) takes this stand-in's place; until it
//! lands every call is simulated.

use super::sessions::TelephonyProvider;

/// A call a provider accepted.
#[derive(Debug, Clone)]
pub struct PlacedCall {
    /// The provider that placed it (after any failover).
    pub provider: String,
    /// The provider's id for it.
    pub provider_call_id: Option<String>,
}

/// Places and ends calls.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use operator_demo::api::{Telephony, TelephonyProvider};
///
/// let call = Telephony::simulated()
///     .start_call(TelephonyProvider::Twilio, "+15005550001", "+15005550006")
///     .await
///     .unwrap();
/// assert_eq!(call.provider, "simulated");
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Telephony {
    _private: (),
}

impl Telephony {
    /// Every call simulated: no provider account needed.
    pub fn simulated() -> Self {
        Self::default()
    }

    /// Places a call from `from` to `to`, asking for `provider`.
    ///
    /// # Errors
    ///
    /// Why no provider could place it.
    pub async fn start_call(
        &self,
        _provider: TelephonyProvider,
        _from: &str,
        _to: &str,
    ) -> Result<PlacedCall, String> {
        Ok(PlacedCall {
            provider: "simulated".into(),
            provider_call_id: Some(format!("sim-{}", uuid::Uuid::new_v4())),
        })
    }

    /// Hangs up `call_id` at `provider`.
    ///
    /// # Errors
    ///
    /// Why the provider could not be told.
    pub async fn end_call(&self, _provider: &str, _call_id: &str) -> Result<(), String> {
        Ok(())
    }
}
