//! Why a Sentry configuration was refused.

/// Why a [`SentryConfig`](crate::SentryConfig) was refused. Each variant
/// names the value at fault; [`SentryConfigError::Env`] also names the variable.
///
/// # Example
///
/// ```
/// use rampart_sentry::{SentryConfigError, SentryConfig};
///
/// let err = SentryConfig::from_lookup(|name| {
///     (name == "SENTRY_TRACES_SAMPLE_RATE").then(|| "1.5".to_owned())
/// })
/// .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "environment variable SENTRY_TRACES_SAMPLE_RATE: sample rate \"1.5\" is not a number from 0 to 1"
/// );
/// assert!(matches!(err, SentryConfigError::Env { var: "SENTRY_TRACES_SAMPLE_RATE", .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SentryConfigError {
    /// The DSN does not parse (`https://<key>@<host>/<project id>`).
    #[error("Sentry DSN {value:?} is invalid: {reason}")]
    InvalidDsn {
        /// The DSN as written.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A sample rate that is not a finite number from 0 to 1.
    #[error("sample rate {value:?} is not a number from 0 to 1")]
    InvalidSampleRate {
        /// The rate as written.
        value: String,
    },
    /// An environment variable's value was refused.
    #[error("environment variable {var}: {source}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Why.
        #[source]
        source: Box<Self>,
    },
}
