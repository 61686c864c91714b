//! The one error that building a CORS layer can return: every problem in the
//! configuration at once, so that a deploy fails with the whole list.

use std::fmt;

use crate::{OriginError, PatternError};

/// One problem in a CORS configuration, naming the value that caused it.
///
/// ```
/// use rampart_cors::{CorsConfig, CorsConfigIssue};
///
/// let err = CorsConfig::new().allow_origin("null").build().unwrap_err();
/// assert!(matches!(err.issues()[0], CorsConfigIssue::NullOrigin));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorsConfigIssue {
    /// The allow-list is empty: nothing would ever be allowed.
    #[error("no allowed origins; list at least one (CORS_ALLOWED_ORIGINS)")]
    NoOrigins,
    /// `null` in the allow-list.
    #[error("`null` is not an allowable origin: any sandboxed iframe or local file sends it")]
    NullOrigin,
    /// `*` together with credentials, which browsers refuse and which would
    /// hand every site the user's cookies if they did not.
    #[error("`*` (any origin) cannot be combined with credentials")]
    WildcardWithCredentials,
    /// `*` next to other origins: the others would mean nothing.
    #[error("`*` (any origin) is listed next to other origins; keep one or the other")]
    WildcardWithOrigins,
    /// An entry that is not an origin in a browser's serialization.
    #[error("origin {value:?} {reason}")]
    InvalidOrigin {
        /// The entry as written.
        value: String,
        /// Why it is refused.
        reason: OriginError,
    },
    /// An entry with a `*` that is not a valid pattern.
    #[error("pattern {value:?} {reason}")]
    InvalidPattern {
        /// The entry as written.
        value: String,
        /// Why it is refused.
        reason: PatternError,
    },
    /// An `http://` origin other than loopback, with credentials: anyone on the
    /// network path can read and alter what that page sends.
    #[error(
        "origin {value:?} is plain http and credentials are allowed; use https, or tolerate insecure origins explicitly"
    )]
    InsecureOriginWithCredentials {
        /// The entry as written.
        value: String,
    },
    /// A pattern directly under a public suffix (`https://*.com`,
    /// `https://*.github.io`): strangers can register names there.
    #[error(
        "pattern {value:?} admits every site under the public suffix {suffix:?}; tolerate public-suffix patterns explicitly if this is meant"
    )]
    PublicSuffixPattern {
        /// The entry as written.
        value: String,
        /// The public suffix.
        suffix: String,
    },
    /// A method that is not a valid token.
    #[error("method {value:?} is not a valid HTTP method token")]
    InvalidMethod {
        /// The entry as written.
        value: String,
    },
    /// `CONNECT`, `TRACE` or `TRACK`: browsers never send them from `fetch`.
    #[error("method {value:?} is forbidden by the Fetch standard and never sent by browsers")]
    ForbiddenMethod {
        /// The entry as written.
        value: String,
    },
    /// A lower-case spelling of a method that browsers upper-case before sending.
    #[error("method {value:?} is sent by browsers in upper case; write {upper:?}")]
    MethodCase {
        /// The entry as written.
        value: String,
        /// The spelling browsers send.
        upper: String,
    },
    /// A header name that is not a valid token.
    #[error("header name {value:?} is not a valid HTTP header name")]
    InvalidHeaderName {
        /// The entry as written.
        value: String,
    },
    /// A request header that scripts may not set (`Cookie`, `Host`, `Sec-*` ...).
    #[error("request header {value:?} is forbidden by the Fetch standard: scripts cannot set it")]
    ForbiddenRequestHeader {
        /// The entry as written.
        value: String,
    },
    /// A response header that scripts may never read (`Set-Cookie`).
    #[error("response header {value:?} can never be exposed to scripts")]
    ForbiddenExposedHeader {
        /// The entry as written.
        value: String,
    },
    /// `*` among exposed headers together with credentials: browsers then read
    /// it as a header literally named `*`.
    #[error("`*` in exposed headers does not work with credentials; list the headers")]
    WildcardExposeWithCredentials,
    /// A max-age above a day (browsers cap it lower anyway).
    #[error("max-age of {secs} s is over 86400 (one day)")]
    MaxAgeTooLarge {
        /// The value, in seconds.
        secs: u64,
    },
    /// An environment variable that could not be read.
    #[error("environment variable {name} = {value:?} is not {expected}")]
    InvalidEnvVar {
        /// The variable.
        name: &'static str,
        /// Its value (lossily decoded).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// An invalid CORS configuration: every [`CorsConfigIssue`] found, not just the first.
///
/// ```
/// use rampart_cors::CorsConfig;
///
/// let err = CorsConfig::new()
///     .allow_origins(["https://example.com/", "http://Example.com"])
///     .allow_methods(["TRACE"])
///     .build()
///     .unwrap_err();
/// assert_eq!(err.issues().len(), 3);
/// assert!(err.to_string().contains("trailing slash"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfigError {
    issues: Vec<CorsConfigIssue>,
}

impl CorsConfigError {
    pub(crate) fn new(issues: Vec<CorsConfigIssue>) -> Self {
        Self { issues }
    }

    /// Every problem found, in the order of the configuration.
    pub fn issues(&self) -> &[CorsConfigIssue] {
        &self.issues
    }
}

impl fmt::Display for CorsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid CORS configuration ({} problems)",
            self.issues.len()
        )?;
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CorsConfigError {}
