//! The telephony settings of `serve`, and the manager they build.

use std::{fmt, time::Duration};

use clap::{Args, ValueEnum};

use crate::telephony::{
    BreakerConfig, PhoneNumber, TELNYX_BASE_URL, TWILIO_BASE_URL, TelephonyManager,
    TelephonyMetrics, TelnyxProvider, TwilioProvider,
};

/// The provider calls go to first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// No real calls (the embedded default).
    Simulated,
    /// Twilio, failing over to Telnyx when it is configured too.
    Twilio,
    /// Telnyx, failing over to Twilio when it is configured too.
    Telnyx,
}

/// The telephony options of `serve`, each also an environment variable
/// (flatten it into the command line with `#[command(flatten)]`).
///
/// # Example
///
/// ```
/// use clap::Parser;
/// use operator_demo::telephony::{TelephonyArgs, TelephonyMetrics};
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     telephony: TelephonyArgs,
/// }
///
/// let cli = Cli::try_parse_from(["demo"]).unwrap();
/// let manager = cli.telephony.build(TelephonyMetrics::default()).unwrap();
/// assert_eq!(manager.provider_names().collect::<Vec<_>>(), ["simulated"]);
///
/// let cli = Cli::try_parse_from([
///     "demo", "--telephony-provider", "twilio",
///     "--twilio-account-sid", "AC00000000000000000000000000000000",
///     "--twilio-auth-token", "token",
///     "--telnyx-api-key", "KEY", "--telnyx-connection-id", "123",
///     "--telephony-from-number", "+14155550100",
/// ]).unwrap();
/// let manager = cli.telephony.build(TelephonyMetrics::default()).unwrap();
/// assert_eq!(manager.provider_names().collect::<Vec<_>>(), ["twilio", "telnyx"]);
///
/// let cli = Cli::try_parse_from(["demo", "--telephony-provider", "twilio"]).unwrap();
/// let err = cli.telephony.build(TelephonyMetrics::default()).unwrap_err();
/// assert_eq!(err.variable, "TWILIO_ACCOUNT_SID");
/// ```
#[derive(Clone, Args)]
pub struct TelephonyArgs {
    /// The provider calls go to first: simulated, twilio or telnyx.
    #[arg(
        long = "telephony-provider",
        env = "TELEPHONY_PROVIDER",
        value_name = "TELEPHONY_PROVIDER",
        default_value = "simulated"
    )]
    pub telephony_provider: ProviderKind,

    /// Twilio account sid (`AC` + 32 hex digits).
    #[arg(
        long = "twilio-account-sid",
        env = "TWILIO_ACCOUNT_SID",
        value_name = "TWILIO_ACCOUNT_SID"
    )]
    pub twilio_account_sid: Option<String>,

    /// Twilio auth token.
    #[arg(
        long = "twilio-auth-token",
        env = "TWILIO_AUTH_TOKEN",
        value_name = "TWILIO_AUTH_TOKEN",
        hide_env_values = true
    )]
    pub twilio_auth_token: Option<String>,

    /// Twilio API base URL (a test server's in tests).
    #[arg(
        long = "twilio-base-url",
        env = "TWILIO_BASE_URL",
        value_name = "TWILIO_BASE_URL",
        default_value = TWILIO_BASE_URL,
        value_parser = base_url
    )]
    pub twilio_base_url: String,

    /// Telnyx API key.
    #[arg(
        long = "telnyx-api-key",
        env = "TELNYX_API_KEY",
        value_name = "TELNYX_API_KEY",
        hide_env_values = true
    )]
    pub telnyx_api_key: Option<String>,

    /// Telnyx Call Control application (connection) id.
    #[arg(
        long = "telnyx-connection-id",
        env = "TELNYX_CONNECTION_ID",
        value_name = "TELNYX_CONNECTION_ID"
    )]
    pub telnyx_connection_id: Option<String>,

    /// Telnyx API base URL.
    #[arg(
        long = "telnyx-base-url",
        env = "TELNYX_BASE_URL",
        value_name = "TELNYX_BASE_URL",
        default_value = TELNYX_BASE_URL,
        value_parser = base_url
    )]
    pub telnyx_base_url: String,

    /// The caller id calls are placed from, in E.164 form (`+14155550100`).
    /// Required with a real provider.
    #[arg(
        long = "telephony-from-number",
        env = "TELEPHONY_FROM_NUMBER",
        value_name = "TELEPHONY_FROM_NUMBER"
    )]
    pub telephony_from_number: Option<PhoneNumber>,

    /// Milliseconds a provider request may take before failing over (100 to 120000).
    #[arg(
        long = "telephony-timeout-ms",
        env = "TELEPHONY_TIMEOUT_MS",
        value_name = "TELEPHONY_TIMEOUT_MS",
        default_value = "10000",
        value_parser = clap::value_parser!(u64).range(100..=120_000)
    )]
    pub telephony_timeout_ms: u64,

    /// Consecutive failures that open a provider's circuit (1 to 1000).
    #[arg(
        long = "telephony-breaker-failures",
        env = "TELEPHONY_BREAKER_FAILURES",
        value_name = "TELEPHONY_BREAKER_FAILURES",
        default_value = "5",
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub telephony_breaker_failures: u32,

    /// Seconds an open circuit skips its provider before a probe (1 to 3600).
    #[arg(
        long = "telephony-breaker-cooldown",
        env = "TELEPHONY_BREAKER_COOLDOWN_SECS",
        value_name = "TELEPHONY_BREAKER_COOLDOWN_SECS",
        default_value = "30",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub telephony_breaker_cooldown_secs: u64,
}

impl fmt::Debug for TelephonyArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "[redacted]");
        f.debug_struct("TelephonyArgs")
            .field("telephony_provider", &self.telephony_provider)
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio_auth_token", &redacted(&self.twilio_auth_token))
            .field("twilio_base_url", &self.twilio_base_url)
            .field("telnyx_api_key", &redacted(&self.telnyx_api_key))
            .field("telnyx_connection_id", &self.telnyx_connection_id)
            .field("telnyx_base_url", &self.telnyx_base_url)
            .field("telephony_from_number", &self.telephony_from_number)
            .field("telephony_timeout_ms", &self.telephony_timeout_ms)
            .field(
                "telephony_breaker_failures",
                &self.telephony_breaker_failures,
            )
            .field(
                "telephony_breaker_cooldown_secs",
                &self.telephony_breaker_cooldown_secs,
            )
            .finish()
    }
}

/// A telephony setting that cannot be used; `variable` names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {message}")]
pub struct TelephonyConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl From<TelephonyConfigError> for crate::Error {
    fn from(err: TelephonyConfigError) -> Self {
        Self::Config {
            variable: err.variable,
            message: err.message,
        }
    }
}

fn missing(variable: &'static str, provider: &str) -> TelephonyConfigError {
    TelephonyConfigError {
        variable,
        message: format!("required with TELEPHONY_PROVIDER={provider}"),
    }
}

impl TelephonyArgs {
    fn twilio(&self, required: bool) -> Result<Option<TwilioProvider>, TelephonyConfigError> {
        let (Some(sid), Some(token)) = (&self.twilio_account_sid, &self.twilio_auth_token) else {
            if required {
                let variable = if self.twilio_account_sid.is_none() {
                    "TWILIO_ACCOUNT_SID"
                } else {
                    "TWILIO_AUTH_TOKEN"
                };
                return Err(missing(variable, "twilio"));
            }
            return Ok(None);
        };
        let timeout = Duration::from_millis(self.telephony_timeout_ms);
        TwilioProvider::new(&self.twilio_base_url, sid.trim(), token, timeout)
            .map(Some)
            .map_err(|message| TelephonyConfigError {
                variable: "TWILIO_ACCOUNT_SID",
                message,
            })
    }

    fn telnyx(&self, required: bool) -> Result<Option<TelnyxProvider>, TelephonyConfigError> {
        let (Some(key), Some(connection)) = (&self.telnyx_api_key, &self.telnyx_connection_id)
        else {
            if required {
                let variable = if self.telnyx_api_key.is_none() {
                    "TELNYX_API_KEY"
                } else {
                    "TELNYX_CONNECTION_ID"
                };
                return Err(missing(variable, "telnyx"));
            }
            return Ok(None);
        };
        let timeout = Duration::from_millis(self.telephony_timeout_ms);
        TelnyxProvider::new(&self.telnyx_base_url, key, connection, timeout)
            .map(Some)
            .map_err(|message| TelephonyConfigError {
                variable: if key.trim().is_empty() {
                    "TELNYX_API_KEY"
                } else {
                    "TELNYX_CONNECTION_ID"
                },
                message,
            })
    }

    /// The manager these options describe, counting into `metrics`: the
    /// chosen provider first, then the other real one if its credentials are
    /// set.
    pub fn build(
        &self,
        metrics: TelephonyMetrics,
    ) -> Result<TelephonyManager, TelephonyConfigError> {
        let mut builder = TelephonyManager::builder()
            .metrics(metrics)
            .breaker(BreakerConfig {
                failures: self.telephony_breaker_failures,
                cooldown: Duration::from_secs(self.telephony_breaker_cooldown_secs),
            });
        match self.telephony_provider {
            ProviderKind::Simulated => {}
            ProviderKind::Twilio => {
                builder = builder.provider(
                    self.twilio(true)?
                        .ok_or_else(|| missing("TWILIO_ACCOUNT_SID", "twilio"))?,
                );
                if let Some(telnyx) = self.telnyx(false)? {
                    builder = builder.provider(telnyx);
                }
            }
            ProviderKind::Telnyx => {
                builder = builder.provider(
                    self.telnyx(true)?
                        .ok_or_else(|| missing("TELNYX_API_KEY", "telnyx"))?,
                );
                if let Some(twilio) = self.twilio(false)? {
                    builder = builder.provider(twilio);
                }
            }
        }
        match (&self.telephony_from_number, self.telephony_provider) {
            (Some(number), _) => builder = builder.from_number(number.clone()),
            (None, ProviderKind::Simulated) => {}
            (None, _) => {
                return Err(TelephonyConfigError {
                    variable: "TELEPHONY_FROM_NUMBER",
                    message: "required with a real TELEPHONY_PROVIDER".into(),
                });
            }
        }
        Ok(builder.build())
    }
}

/// An `http(s)://host[:port][/path]` URL, without a trailing `/`.
fn base_url(value: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(value.trim()).map_err(|err| format!("{value:?}: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{value:?}: expected an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{value:?}: no query or fragment expected"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        telephony: TelephonyArgs,
    }

    fn parse(args: &[&str]) -> Result<TelephonyArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("demo").chain(args.iter().copied()))
            .map(|c| c.telephony)
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: [(&[&str], &str); 7] = [
            (&["--telephony-provider", "vonage"], "TELEPHONY_PROVIDER"),
            (
                &["--telephony-from-number", "555-0100"],
                "TELEPHONY_FROM_NUMBER",
            ),
            (&["--telephony-timeout-ms", "0"], "TELEPHONY_TIMEOUT_MS"),
            (&["--telephony-timeout-ms", "soon"], "TELEPHONY_TIMEOUT_MS"),
            (&["--twilio-base-url", "ftp://x"], "TWILIO_BASE_URL"),
            (&["--telnyx-base-url", "not a url"], "TELNYX_BASE_URL"),
            (
                &["--telephony-breaker-failures", "0"],
                "TELEPHONY_BREAKER_FAILURES",
            ),
        ];
        for (args, variable) in cases {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(variable), "{args:?}: {err}");
        }
    }

    #[test]
    fn missing_or_bad_credentials_name_their_variable() {
        let build = |args: &[&str]| parse(args).unwrap().build(TelephonyMetrics::default());
        let sid = "AC0123456789abcdef0123456789abcdef";
        let cases: [(&[&str], &str); 6] = [
            (&["--telephony-provider", "twilio"], "TWILIO_ACCOUNT_SID"),
            (
                &[
                    "--telephony-provider",
                    "twilio",
                    "--twilio-account-sid",
                    sid,
                ],
                "TWILIO_AUTH_TOKEN",
            ),
            (
                &[
                    "--telephony-provider",
                    "twilio",
                    "--twilio-account-sid",
                    "AC1",
                    "--twilio-auth-token",
                    "t",
                ],
                "TWILIO_ACCOUNT_SID",
            ),
            (
                &["--telephony-provider", "telnyx", "--telnyx-api-key", "k"],
                "TELNYX_CONNECTION_ID",
            ),
            (
                &[
                    "--telephony-provider",
                    "telnyx",
                    "--telnyx-api-key",
                    " ",
                    "--telnyx-connection-id",
                    "1",
                ],
                "TELNYX_API_KEY",
            ),
            (
                &[
                    "--telephony-provider",
                    "twilio",
                    "--twilio-account-sid",
                    sid,
                    "--twilio-auth-token",
                    "t",
                ],
                "TELEPHONY_FROM_NUMBER",
            ),
        ];
        for (args, variable) in cases {
            let err = build(args).unwrap_err();
            assert_eq!(err.variable, variable, "{args:?}: {err}");
        }
        // Secrets never show in debug output.
        let args = parse(&[
            "--twilio-auth-token",
            "SECRET1",
            "--telnyx-api-key",
            "SECRET2",
        ])
        .unwrap();
        let debug = format!("{args:?}");
        assert!(
            !debug.contains("SECRET1") && !debug.contains("SECRET2"),
            "{debug}"
        );
    }

    #[test]
    fn base_urls_are_normalized() {
        assert_eq!(
            base_url("https://api.twilio.com/").unwrap(),
            "https://api.twilio.com"
        );
        assert_eq!(
            base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(base_url("https://x.test/?a=1").is_err());
        assert!(base_url("mailto:a@b.c").is_err());
    }
}
