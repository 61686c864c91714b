//! What a telephony provider does, and how it can fail.

use std::{fmt, future::Future, pin::Pin, time::Duration};

use super::PhoneNumber;

/// A provider's answer, boxed: providers live behind `dyn Provider` in the
/// manager's failover chain (a call is placed once per session, so one
/// allocation is nothing).
pub type ProviderFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// A call to place.
///
/// # Example
///
/// ```
/// use operator_demo::telephony::CallRequest;
///
/// let call = CallRequest::new("+14155550100".parse().unwrap(), "+15005550006".parse().unwrap())
///     .answer_url("https://demo.example.com/voice/answer");
/// assert_eq!(call.to.as_str(), "+14155550100");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallRequest {
    /// Who is called.
    pub to: PhoneNumber,
    /// The caller id shown (a number of the account).
    pub from: PhoneNumber,
    /// Where the provider fetches call instructions when the call is
    /// answered (Twilio `Url`, Telnyx `webhook_url`). Without one, Twilio is
    /// given [`DEFAULT_TWIML`].
    pub answer_url: Option<String>,
}

/// The instructions Twilio gets when a call has no answer URL: a greeting.
pub const DEFAULT_TWIML: &str = "<Response><Say>Hello from operator-demo.</Say></Response>";

impl CallRequest {
    /// A call from `from` to `to`.
    pub fn new(to: PhoneNumber, from: PhoneNumber) -> Self {
        Self {
            to,
            from,
            answer_url: None,
        }
    }

    /// With the URL the provider fetches call instructions from.
    #[must_use]
    pub fn answer_url(mut self, url: impl Into<String>) -> Self {
        self.answer_url = Some(url.into());
        self
    }
}

/// A call's state, as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallStatus {
    /// Accepted, not dialled yet (Twilio `queued`, Telnyx on creation).
    Queued,
    /// Dialling.
    Ringing,
    /// Answered.
    InProgress,
    /// Ended normally.
    Completed,
    /// The callee was busy.
    Busy,
    /// Nobody answered.
    NoAnswer,
    /// Hung up before it was answered.
    Canceled,
    /// Could not be placed.
    Failed,
    /// A status this code does not know, as the provider spelled it.
    Other(String),
}

impl CallStatus {
    /// Reads Twilio's (and the simulator's) spelling.
    ///
    /// ```
    /// use operator_demo::telephony::CallStatus;
    ///
    /// assert_eq!(CallStatus::parse("in-progress"), CallStatus::InProgress);
    /// assert_eq!(CallStatus::parse("teleported"), CallStatus::Other("teleported".into()));
    /// ```
    pub fn parse(text: &str) -> Self {
        match text {
            "queued" | "initiated" => Self::Queued,
            "ringing" => Self::Ringing,
            "in-progress" | "answered" => Self::InProgress,
            "completed" => Self::Completed,
            "busy" => Self::Busy,
            "no-answer" => Self::NoAnswer,
            "canceled" => Self::Canceled,
            "failed" => Self::Failed,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// The status in Twilio's spelling (`in-progress`, `no-answer`...).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Canceled => "canceled",
            Self::Failed => "failed",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call a provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StartedCall {
    /// The provider that placed it (`twilio`, `telnyx`, `simulated`).
    pub provider: &'static str,
    /// The provider's id for it (Twilio's `CA...` sid, Telnyx's `call_control_id`).
    pub call_id: String,
    /// Its state when accepted.
    pub status: CallStatus,
}

/// Why a provider did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// No answer within the configured timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The provider could not be reached (connection refused, reset, DNS...).
    #[error("cannot reach the provider: {0}")]
    Transport(String),
    /// A 5xx: the provider is failing.
    #[error("the provider failed with {status}: {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// What the provider said.
        message: String,
    },
    /// A 429: the account is being throttled.
    #[error("the provider is throttling this account: {message}")]
    RateLimited {
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// What the provider said.
        message: String,
    },
    /// Another 4xx: the request itself is wrong (an invalid number, an
    /// unverified caller id, bad credentials). Another provider would not do
    /// better, so there is no failover: this is the caller's error.
    #[error("the provider refused the call ({status}{}): {message}", code.as_deref().map(|c| format!(", code {c}")).unwrap_or_default())]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The provider's error code (Twilio `21211`, Telnyx `10015`...).
        code: Option<String>,
        /// What the provider said.
        message: String,
    },
    /// A success status with a body that is not what the provider documents.
    #[error("the provider answered something unexpected: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// Whether another provider should be tried: timeouts, unreachable
    /// providers, 5xx, 429 and unreadable answers; not the caller's own errors.
    ///
    /// ```
    /// use operator_demo::telephony::ProviderError;
    ///
    /// assert!(ProviderError::Unavailable { status: 503, message: String::new() }.fails_over());
    /// assert!(!ProviderError::Rejected { status: 400, code: None, message: String::new() }.fails_over());
    /// ```
    pub fn fails_over(&self) -> bool {
        !matches!(self, Self::Rejected { .. })
    }
}

/// A telephony provider: places calls and hangs them up.
///
/// Implemented by [`TwilioProvider`](super::TwilioProvider),
/// [`TelnyxProvider`](super::TelnyxProvider) and
/// [`SimulatedProvider`](super::SimulatedProvider); the
/// [`TelephonyManager`](super::TelephonyManager) chains them with failover.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use operator_demo::telephony::{CallRequest, Provider, SimulatedProvider};
///
/// let provider = SimulatedProvider::new();
/// let call = CallRequest::new("+14155550100".parse().unwrap(), "+15005550006".parse().unwrap());
/// let started = provider.start_call(&call).await.unwrap();
/// assert_eq!(started.provider, "simulated");
/// # }
/// ```
pub trait Provider: fmt::Debug + Send + Sync + 'static {
    /// The provider's name, as stored with sessions and in metrics labels.
    fn name(&self) -> &'static str;

    /// Places `call`.
    fn start_call<'a>(&'a self, call: &'a CallRequest) -> ProviderFuture<'a, StartedCall>;

    /// Hangs up the call `call_id` (an id this provider returned).
    fn end_call<'a>(&'a self, call_id: &'a str) -> ProviderFuture<'a, CallStatus>;
}

/// Whether `id` can go in a URL path as one segment untouched: provider ids
/// are letters, digits and `-_:.=`; anything else is refused before any
/// request is made.
pub(super) fn check_call_id(id: &str) -> Result<(), ProviderError> {
    let ok = !id.is_empty()
        && id.len() <= 256
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.=".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Rejected {
            status: 400,
            code: None,
            message: "not a call id of this provider".into(),
        })
    }
}
