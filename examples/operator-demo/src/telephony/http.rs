//! What the Twilio and Telnyx clients share: the HTTP client, sending with a
//! timeout, and sorting an HTTP answer into success or a [`ProviderError`].

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode, header};

use super::ProviderError;

/// The largest answer body read from a provider: theirs are a few KiB.
const MAX_BODY_BYTES: usize = 1 << 20;

/// An HTTPS client (rustls with the ring provider, the platform's roots)
/// whose every request ends after `timeout`.
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider (the workspace uses
    // ring, not aws-lc): make ring the process default unless one is set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("operator-demo/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| err.to_string())
}

/// An answer: status, `Retry-After` in seconds if any, body.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) retry_after: Option<Duration>,
    pub(super) body: Vec<u8>,
}

/// Sends `request`, reading at most [`MAX_BODY_BYTES`] of the answer.
pub(super) async fn send(
    request: RequestBuilder,
    timeout: Duration,
) -> Result<Answer, ProviderError> {
    let transport = |err: reqwest::Error| {
        if err.is_timeout() {
            ProviderError::Timeout(timeout)
        } else {
            // Without the URL: it may carry the account sid.
            ProviderError::Transport(err.without_url().to_string())
        }
    };
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ProviderError::Protocol("answer body too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// The error of a non-2xx answer, with the provider's own code and message
/// when its body had them.
pub(super) fn failure(
    answer: &Answer,
    code: Option<String>,
    message: Option<String>,
) -> ProviderError {
    let status = answer.status.as_u16();
    let message = message
        .map(|m| m.chars().take(500).collect())
        .unwrap_or_else(|| {
            answer
                .status
                .canonical_reason()
                .unwrap_or("unknown status")
                .to_owned()
        });
    match answer.status {
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after: answer.retry_after,
            message,
        },
        s if s.is_client_error() => ProviderError::Rejected {
            status,
            code,
            message,
        },
        // 5xx, and the 1xx/3xx a JSON API never sends: the provider is not
        // doing its job, try another.
        _ => ProviderError::Unavailable { status, message },
    }
}

/// The error of a 2xx answer whose body is not what was expected.
pub(super) fn unexpected(err: impl std::fmt::Display) -> ProviderError {
    ProviderError::Protocol(err.to_string().chars().take(200).collect())
}
