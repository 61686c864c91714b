//! Why a security-headers configuration was refused.

use rampart_core::TrustedProxiesError;

use crate::csp::CspError;

/// Why a [`SecurityHeaders`](crate::SecurityHeaders) configuration was
/// refused. Each variant names the value at fault.
///
/// # Example
///
/// ```
/// use rampart_headers::{SecurityHeadersConfigError, SecurityHeaders};
///
/// let err = SecurityHeaders::api().exempt("docs").build().unwrap_err();
/// assert_eq!(err, SecurityHeadersConfigError::InvalidRoutePrefix { prefix: "docs".into() });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityHeadersConfigError {
    /// A setting whose text is not one of the values it takes.
    #[error("{setting} = {value:?} is invalid; expected {expected}")]
    InvalidValue {
        /// The setting.
        setting: &'static str,
        /// The value as written.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
    /// The Content Security Policy was refused.
    #[error("content security policy: {0}")]
    Csp(#[from] CspError),
    /// The list of trusted proxies was refused.
    #[error(transparent)]
    TrustedProxies(#[from] TrustedProxiesError),
    /// A route prefix that does not start with `/` or holds `?`, `#` or a space.
    #[error("route prefix {prefix:?} must start with '/' and hold no '?', '#' or whitespace")]
    InvalidRoutePrefix {
        /// The prefix as written.
        prefix: String,
    },
    /// The same route prefix twice.
    #[error("route prefix {prefix:?} is configured twice")]
    DuplicateRoute {
        /// The prefix.
        prefix: String,
    },
    /// A route's own policy has routes: only the top level routes.
    #[error(
        "the policy for route {prefix:?} has routes of its own; only the top-level policy routes"
    )]
    NestedRoutes {
        /// The prefix.
        prefix: String,
    },
    /// HSTS `preload` without `includeSubDomains` or with a `max-age` below
    /// one year: the preload list would refuse the site.
    #[error(
        "HSTS preload needs includeSubDomains and max-age >= 31536000 (got max-age={max_age}, includeSubDomains={include_subdomains})"
    )]
    HstsPreload {
        /// The configured `max-age` in seconds.
        max_age: u64,
        /// Whether `includeSubDomains` was set.
        include_subdomains: bool,
    },
    /// An environment variable's value was refused.
    #[error("environment variable {var}: {source}")]
    Env {
        /// The variable.
        var: String,
        /// Why.
        #[source]
        source: Box<Self>,
    },
}
