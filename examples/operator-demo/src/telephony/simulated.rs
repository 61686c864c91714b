//! A provider that places no real call: the embedded default.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    CallRequest, CallStatus, Provider, ProviderFuture, StartedCall, provider::check_call_id,
};

/// Accepts every call at once, with ids `SIM00000001`, `SIM00000002`, ... in
/// order (deterministic, for tests and demos), and hangs up any of them.
/// Needs no account, so sessions work out of the box.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use operator_demo::telephony::{CallRequest, CallStatus, Provider, SimulatedProvider};
///
/// let provider = SimulatedProvider::new();
/// let call = CallRequest::new("+14155550100".parse().unwrap(), "+15005550006".parse().unwrap());
/// assert_eq!(provider.start_call(&call).await.unwrap().call_id, "SIM00000001");
/// assert_eq!(provider.start_call(&call).await.unwrap().call_id, "SIM00000002");
/// assert_eq!(provider.end_call("SIM00000001").await.unwrap(), CallStatus::Completed);
/// # }
/// ```
#[derive(Debug, Default)]
pub struct SimulatedProvider {
    next: AtomicU64,
}

impl SimulatedProvider {
    /// A simulator whose first call is `SIM00000001`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Provider for SimulatedProvider {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn start_call<'a>(&'a self, _call: &'a CallRequest) -> ProviderFuture<'a, StartedCall> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        Box::pin(async move {
            Ok(StartedCall {
                provider: "simulated",
                call_id: format!("SIM{n:08}"),
                status: CallStatus::Queued,
            })
        })
    }

    fn end_call<'a>(&'a self, call_id: &'a str) -> ProviderFuture<'a, CallStatus> {
        Box::pin(async move {
            check_call_id(call_id)?;
            Ok(CallStatus::Completed)
        })
    }
}
