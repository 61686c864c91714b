//! The sessions' view of telephony: place a call, hang it up, through the
//! [`TelephonyManager`] (the simulated provider by default; Twilio and Telnyx
//! with failover when configured).

use std::time::Duration;

use super::{ApiError, sessions::TelephonyProvider};
use crate::telephony::{CallRequest, PhoneNumber, TelephonyError, TelephonyManager};

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
/// let telephony = Telephony::simulated();
/// let call = telephony
///     .start_call(TelephonyProvider::Twilio, "+15005550006")
///     .await
///     .unwrap();
/// assert_eq!(call.provider, "simulated");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Telephony {
    manager: TelephonyManager,
}

impl Default for Telephony {
    fn default() -> Self {
        Self::simulated()
    }
}

impl Telephony {
    /// Every call simulated: no provider account needed.
    pub fn simulated() -> Self {
        Self::new(TelephonyManager::simulated())
    }

    /// Calls through `manager`.
    pub fn new(manager: TelephonyManager) -> Self {
        Self { manager }
    }

    /// The manager (its metrics, its breakers).
    pub fn manager(&self) -> &TelephonyManager {
        &self.manager
    }

    /// The number calls come from.
    pub fn from_number(&self) -> &str {
        self.manager.from_number().as_str()
    }

    /// Places a call to `to`, trying `provider` first when configured.
    ///
    /// # Errors
    ///
    /// 422 naming `to` when a provider refuses the number; 503 when no
    /// provider could place it.
    pub async fn start_call(
        &self,
        provider: TelephonyProvider,
        to: &str,
    ) -> Result<PlacedCall, ApiError> {
        let to: PhoneNumber = to
            .parse()
            .map_err(|err: crate::telephony::InvalidPhoneNumber| {
                ApiError::invalid("to", err.to_string())
            })?;
        let request = CallRequest {
            to,
            from: self.manager.from_number().clone(),
            answer_url: None,
        };
        match self
            .manager
            .start_call(Some(provider.as_str()), &request)
            .await
        {
            Ok(started) => Ok(PlacedCall {
                provider: started.provider.to_owned(),
                provider_call_id: Some(started.call_id),
            }),
            Err(TelephonyError::Rejected { error, .. }) => {
                Err(ApiError::invalid("to", error.to_string()))
            }
            Err(err) => Err(ApiError::Unavailable(err.to_string())),
        }
    }

    /// Hangs up `call_id` at `provider` and records the call's duration.
    ///
    /// # Errors
    ///
    /// Why the provider could not be told.
    pub async fn end_call(
        &self,
        provider: &str,
        call_id: &str,
        duration: Duration,
    ) -> Result<(), String> {
        self.manager.metrics().observe_call_duration(duration);
        self.manager
            .end_call(provider, call_id)
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
    }

    /// Counts a campaign execution (`campaign_executions_total`).
    pub fn campaign_executed(&self) {
        self.manager.metrics().campaign_executed();
    }
}

/// The telephony provider settings calls are placed with.
#[derive(Debug, Clone, super::prelude::Serialize, super::prelude::ToSchema)]
pub(super) struct ProviderSettings {
    /// The providers, in failover order (`simulated` when none is configured).
    pub(super) providers: Vec<String>,
    /// The caller id calls come from (E.164).
    pub(super) from_number: String,
}

/// The telephony provider settings.
///
/// `GET /api/v1/telephony/providers`: the providers in failover order and
/// the caller id, for any signed-in user; secrets are never part of it.
/// Cached per organization for 15 minutes (the plan's provider-settings
/// class): settings change only with a restart, and a restart with new
/// ones is seen within that time.
#[utoipa::path(get, path = "/api/v1/telephony/providers", tag = "telephony",
    responses((status = 200, body = ProviderSettings), (status = 401)),
    security(("bearer" = [])))]
pub(super) async fn provider_settings(
    super::prelude::State(state): super::prelude::State<crate::app::AppState>,
    _principal: crate::auth::Principal,
) -> super::prelude::Json<ProviderSettings> {
    let manager = state.telephony().manager();
    super::prelude::Json(ProviderSettings {
        providers: manager.provider_names().map(str::to_owned).collect(),
        from_number: manager.from_number().as_str().to_owned(),
    })
}
