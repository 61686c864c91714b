//! The one error that building a tenant layer can return: every problem of
//! its sources and cache at once, so that a deploy fails with the whole list.

use std::fmt;

/// One problem in a tenant configuration, naming the value that caused it.
///
/// ```
/// use rampart_tenant::{TenantConfigIssue, TenantLayer};
///
/// let err = TenantLayer::builder().from_path_prefix("t").build().unwrap_err();
/// assert_eq!(err.issues(), [TenantConfigIssue::InvalidPathPrefix("t".into())]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantConfigIssue {
    /// No source to resolve the tenant from.
    #[error("a tenant layer needs at least one source (principal, subdomain, header or path)")]
    NoSources,
    /// The base domain of the subdomain source is not a host name.
    #[error("{0:?} is not a domain name such as app.example.com")]
    InvalidBaseDomain(String),
    /// The header name is not a valid HTTP header name.
    #[error("{0:?} is not a valid header name")]
    InvalidHeaderName(String),
    /// A header source with no trusted proxy would never believe the header.
    #[error(
        "the tenant header {0:?} is only believed from trusted proxies, and none is configured"
    )]
    NoTrustedProxies(String),
    /// The path prefix does not start and end with `/`.
    #[error("path prefix {0:?} must start and end with `/` and have a segment, like /t/")]
    InvalidPathPrefix(String),
    /// The lookup cache would hold nothing.
    #[error("the tenant lookup cache needs a capacity and a time to live above zero")]
    EmptyCache,
}

/// Why a [`TenantLayer`](crate::TenantLayer) could not be built: every
/// [`TenantConfigIssue`] found, not just the first.
///
/// ```
/// use std::time::Duration;
/// use rampart_tenant::TenantLayer;
///
/// let err = TenantLayer::builder()
///     .from_subdomain("not a domain")
///     .from_path_prefix("t")
///     .cache(0, Duration::from_secs(60))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.issues().len(), 3);
/// assert!(err.to_string().contains("\"not a domain\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfigError {
    issues: Vec<TenantConfigIssue>,
}

impl TenantConfigError {
    pub(crate) fn new(issues: Vec<TenantConfigIssue>) -> Self {
        Self { issues }
    }

    /// Every problem found, in the order of the builder's calls.
    pub fn issues(&self) -> &[TenantConfigIssue] {
        &self.issues
    }
}

impl fmt::Display for TenantConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid tenant configuration ({} problems)",
            self.issues.len()
        )?;
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TenantConfigError {}
