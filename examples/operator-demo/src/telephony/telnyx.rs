//! Telnyx's Call Control API v2: `POST /v2/calls`.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    CallRequest, CallStatus, Provider, ProviderError, ProviderFuture, StartedCall,
    http::{self, Answer},
    provider::check_call_id,
};

/// Telnyx's production API.
pub const TELNYX_BASE_URL: &str = "https://api.telnyx.com";

/// Places calls through Telnyx Call Control: JSON bodies, `Authorization:
/// Bearer` with the API key ([Telnyx's Dial command]).
///
/// [Telnyx's Dial command]: https://developers.telnyx.com/api/call-control/dial-call
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use operator_demo::telephony::{Provider, TelnyxProvider};
///
/// let telnyx = TelnyxProvider::new("https://api.telnyx.com", "KEY0123", "1494404757140276705", Duration::from_secs(10)).unwrap();
/// assert_eq!(telnyx.name(), "telnyx");
/// assert!(!format!("{telnyx:?}").contains("KEY0123"));
/// ```
#[derive(Clone)]
pub struct TelnyxProvider {
    client: reqwest::Client,
    base: String,
    api_key: String,
    connection_id: String,
    timeout: Duration,
}

impl fmt::Debug for TelnyxProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxProvider")
            .field("base", &self.base)
            .field("connection_id", &self.connection_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
struct Dial<'a> {
    connection_id: &'a str,
    to: &'a str,
    from: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_url: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Debug, Deserialize)]
struct CallData {
    call_control_id: String,
    #[serde(default)]
    is_alive: Option<bool>,
}

/// Telnyx's error body: `{"errors": [{"code": "10015", "title": "...", "detail": "..."}]}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    code: Option<serde_json::Value>,
    title: Option<String>,
    detail: Option<String>,
}

impl TelnyxProvider {
    /// A client of the API at `base` (`https://api.telnyx.com`, or a test
    /// server) with `api_key`, dialling through the Call Control application
    /// `connection_id`, giving up on a request after `timeout`.
    pub fn new(
        base: &str,
        api_key: &str,
        connection_id: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        if api_key.trim().is_empty() {
            return Err("the API key is empty".into());
        }
        if connection_id.trim().is_empty() {
            return Err("the connection id is empty".into());
        }
        Ok(Self {
            client: http::client(timeout)?,
            base: base.trim_end_matches('/').to_owned(),
            api_key: api_key.trim().to_owned(),
            connection_id: connection_id.trim().to_owned(),
            timeout,
        })
    }

    async fn post<B: Serialize + Sync>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Answer, ProviderError> {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body);
        let answer = http::send(request, self.timeout).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(error(&answer))
        }
    }
}

fn error(answer: &Answer) -> ProviderError {
    let first = serde_json::from_slice::<ErrorBody>(&answer.body)
        .ok()
        .and_then(|body| body.errors.into_iter().next());
    let (code, message) = match first {
        Some(item) => {
            let code = item.code.map(|c| match c {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
            let message = match (item.title, item.detail) {
                (Some(title), Some(detail)) => Some(format!("{title}: {detail}")),
                (title, detail) => title.or(detail),
            };
            (code, message)
        }
        None => (None, None),
    };
    http::failure(answer, code, message)
}

impl Provider for TelnyxProvider {
    fn name(&self) -> &'static str {
        "telnyx"
    }

    fn start_call<'a>(&'a self, call: &'a CallRequest) -> ProviderFuture<'a, StartedCall> {
        Box::pin(async move {
            let dial = Dial {
                connection_id: &self.connection_id,
                to: call.to.as_str(),
                from: call.from.as_str(),
                webhook_url: call.answer_url.as_deref(),
            };
            let answer = self.post("/v2/calls", &dial).await?;
            let data = serde_json::from_slice::<Envelope<CallData>>(&answer.body)
                .map_err(http::unexpected)?
                .data;
            check_call_id(&data.call_control_id)
                .map_err(|_| http::unexpected("the call_control_id is malformed"))?;
            Ok(StartedCall {
                provider: self.name(),
                call_id: data.call_control_id,
                status: match data.is_alive {
                    Some(false) => CallStatus::Failed,
                    _ => CallStatus::Queued,
                },
            })
        })
    }

    fn end_call<'a>(&'a self, call_id: &'a str) -> ProviderFuture<'a, CallStatus> {
        Box::pin(async move {
            check_call_id(call_id)?;
            let path = format!("/v2/calls/{call_id}/actions/hangup");
            self.post(&path, &serde_json::json!({})).await?;
            Ok(CallStatus::Completed)
        })
    }
}
