//! The errors of the cache: a store that could not answer ([`CacheError`]),
//! and a configuration that cannot be built ([`CacheConfigError`], every
//! problem at once).

use std::{fmt, time::Duration};

/// Why a cache operation did not complete. The response layer never turns
/// one into an error response: it counts it and asks the inner service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The store failed (connection refused, reset, an error reply) or its
    /// circuit breaker is open.
    #[error("cache store unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer within its timeout.
    #[error("cache store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store returned something that is not a value of this cache.
    #[error("cache store returned an unreadable value: {0}")]
    Corrupt(String),
    /// A value over its namespace's size cap; it is not stored.
    #[error("value of {size} bytes is over the cap of {max} bytes")]
    TooLarge {
        /// The serialized size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// The value could not be serialized.
    #[error("value cannot be serialized: {0}")]
    Serialize(String),
    /// A tag that is empty, too long, or has a tab, newline or NUL.
    #[error("tag {0:?} is empty, over 256 bytes, or has a tab, newline or NUL")]
    InvalidTag(String),
}

/// The longest tag accepted, in bytes.
pub(crate) const MAX_TAG_LEN: usize = 256;

/// Checks a tag: the Redis store writes tags into a field of
/// `tag\tversion\n` lines.
pub(crate) fn check_tag(tag: &str) -> Result<(), CacheError> {
    if tag.is_empty()
        || tag.len() > MAX_TAG_LEN
        || tag.bytes().any(|b| matches!(b, b'\t' | b'\n' | 0))
    {
        return Err(CacheError::InvalidTag(
            tag.chars().take(MAX_TAG_LEN).collect(),
        ));
    }
    Ok(())
}

/// One problem in a cache configuration, naming the field or variable.
///
/// ```
/// use std::time::Duration;
/// use rampart_cache::{CacheConfig, CacheConfigIssue, CacheRoute};
///
/// let err = CacheConfig::new()
///     .route(CacheRoute::new("campaigns", "campaigns").ttl(Duration::ZERO))
///     .validate()
///     .unwrap_err();
/// assert!(matches!(err.issues()[0], CacheConfigIssue::InvalidPath { .. }));
/// assert!(matches!(err.issues()[1], CacheConfigIssue::ZeroTtl { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheConfigIssue {
    /// A route name that is not a short label (`[a-z0-9_]`, 1 to 64 bytes):
    /// it becomes the `namespace` label of the metrics.
    #[error("route name {name:?} is not 1 to 64 of a-z, 0-9 and _ (it is a metrics label)")]
    InvalidName {
        /// The name as written.
        name: String,
    },
    /// Two routes with one name.
    #[error("route name {name:?} is used twice")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A path pattern that does not start with `/`, or has an empty or
    /// malformed segment.
    #[error("route {route:?}: path {path:?} {reason}")]
    InvalidPath {
        /// The route's name.
        route: String,
        /// The pattern as written.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A TTL of zero: nothing would ever be served from the cache.
    #[error("route {route:?}: ttl is zero")]
    ZeroTtl {
        /// The route's name (or `default_ttl`).
        route: String,
    },
    /// A TTL (with its stale windows) above the store's limit.
    #[error("route {route:?}: ttl plus stale windows of {secs} s is over {max} s")]
    TtlTooLong {
        /// The route's name.
        route: String,
        /// The total, in seconds.
        secs: u64,
        /// The limit, in seconds.
        max: u64,
    },
    /// A tag template that is not a valid tag, or names a placeholder that
    /// is neither `{tenant}`, `{principal}` nor a parameter of the path.
    #[error("route {route:?}: tag {tag:?} {reason}")]
    InvalidTag {
        /// The route's name.
        route: String,
        /// The tag template as written.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// A `vary` entry that is not a header name.
    #[error("route {route:?}: a header name in vary, {value:?}, is not a valid header name")]
    InvalidVary {
        /// The route's name.
        route: String,
        /// The name as written.
        value: String,
    },
    /// A body cap of zero.
    #[error("max_body_bytes is zero: nothing could be cached")]
    ZeroBodyCap,
    /// An environment variable that could not be read.
    #[error("environment variable {name} = {value:?} is not {expected}")]
    InvalidEnvVar {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// An invalid cache configuration: every [`CacheConfigIssue`] found.
///
/// ```
/// use rampart_cache::{CacheConfig, CacheRoute};
///
/// let err = CacheConfig::new()
///     .max_body_bytes(0)
///     .route(CacheRoute::new("Bad Name", "/x"))
///     .validate()
///     .unwrap_err();
/// assert_eq!(err.issues().len(), 2);
/// assert!(err.to_string().contains("max_body_bytes"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfigError {
    issues: Vec<CacheConfigIssue>,
}

impl CacheConfigError {
    pub(crate) fn new(issues: Vec<CacheConfigIssue>) -> Self {
        Self { issues }
    }

    /// Every problem found, in the order of the configuration.
    pub fn issues(&self) -> &[CacheConfigIssue] {
        &self.issues
    }
}

impl fmt::Display for CacheConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid cache configuration ({} problems)",
            self.issues.len()
        )?;
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CacheConfigError {}
