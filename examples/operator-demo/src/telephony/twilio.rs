//! Twilio's Programmable Voice REST API: `POST /2010-04-01/Accounts/{sid}/Calls.json`.

use std::{fmt, time::Duration};

use serde::Deserialize;

use super::{
    CallRequest, CallStatus, DEFAULT_TWIML, Provider, ProviderError, ProviderFuture, StartedCall,
    http::{self, Answer},
    provider::check_call_id,
};

/// Twilio's production API.
pub const TWILIO_BASE_URL: &str = "https://api.twilio.com";

/// Places calls through Twilio: form-encoded bodies, HTTP basic auth with the
/// account sid and auth token ([Twilio's Call resource]).
///
/// [Twilio's Call resource]: https://www.twilio.com/docs/voice/api/call-resource
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use operator_demo::telephony::{Provider, TwilioProvider};
///
/// let twilio = TwilioProvider::new(
///     "https://api.twilio.com",
///     "AC00000000000000000000000000000000",
///     "secret-token",
///     Duration::from_secs(10),
/// )
/// .unwrap();
/// assert_eq!(twilio.name(), "twilio");
/// assert!(!format!("{twilio:?}").contains("secret-token"));
/// ```
#[derive(Clone)]
pub struct TwilioProvider {
    client: reqwest::Client,
    base: String,
    account_sid: String,
    auth_token: String,
    timeout: Duration,
}

impl fmt::Debug for TwilioProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioProvider")
            .field("base", &self.base)
            .field("account_sid", &self.account_sid)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Whether `sid` is an account sid: `AC` and 32 hex digits (it goes into
/// the URL path).
pub(super) fn valid_account_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The fields of Twilio's Call resource this client reads.
#[derive(Debug, Deserialize)]
struct CallResource {
    sid: String,
    status: String,
}

/// Twilio's error body: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
}

impl TwilioProvider {
    /// A client of the API at `base` (`https://api.twilio.com`, or a test
    /// server), for `account_sid` (`AC` + 32 hex digits), giving up on a
    /// request after `timeout`.
    pub fn new(
        base: &str,
        account_sid: &str,
        auth_token: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        if !valid_account_sid(account_sid) {
            return Err("an account sid is AC followed by 32 hexadecimal digits".into());
        }
        Ok(Self {
            client: http::client(timeout)?,
            base: base.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            timeout,
        })
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{tail}",
            self.base, self.account_sid
        )
    }

    async fn post(
        &self,
        url: String,
        form: &[(&str, &str)],
    ) -> Result<CallResource, ProviderError> {
        let request = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form);
        let answer = http::send(request, self.timeout).await?;
        if !answer.status.is_success() {
            return Err(error(&answer));
        }
        let call: CallResource = serde_json::from_slice(&answer.body).map_err(http::unexpected)?;
        check_call_id(&call.sid).map_err(|_| http::unexpected("the call sid is malformed"))?;
        Ok(call)
    }
}

fn error(answer: &Answer) -> ProviderError {
    let body: Option<ErrorBody> = serde_json::from_slice(&answer.body).ok();
    let (code, message) = body
        .map(|b| {
            let code = b.code.map(|c| match c {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
            (code, b.message)
        })
        .unwrap_or_default();
    http::failure(answer, code, message)
}

impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn start_call<'a>(&'a self, call: &'a CallRequest) -> ProviderFuture<'a, StartedCall> {
        Box::pin(async move {
            let instructions = match &call.answer_url {
                Some(url) => ("Url", url.as_str()),
                None => ("Twiml", DEFAULT_TWIML),
            };
            let form = [
                ("To", call.to.as_str()),
                ("From", call.from.as_str()),
                instructions,
            ];
            let resource = self.post(self.url("Calls.json"), &form).await?;
            Ok(StartedCall {
                provider: self.name(),
                call_id: resource.sid,
                status: CallStatus::parse(&resource.status),
            })
        })
    }

    fn end_call<'a>(&'a self, call_id: &'a str) -> ProviderFuture<'a, CallStatus> {
        Box::pin(async move {
            check_call_id(call_id)?;
            // Updating a call to `completed` hangs it up (or cancels it if
            // it is still queued or ringing).
            let url = self.url(&format!("Calls/{call_id}.json"));
            let resource = self.post(url, &[("Status", "completed")]).await?;
            Ok(CallStatus::parse(&resource.status))
        })
    }
}
