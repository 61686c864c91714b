//! The one error that building a rate-limit layer can return: every problem
//! of its policies at once, so that a deploy fails with the whole list.

use std::fmt;

/// One problem in a rate-limit configuration, naming the policy that caused it.
///
/// ```
/// use rampart_ratelimit::{MemoryStore, RateLimitConfigIssue, RateLimitLayer};
///
/// let err = RateLimitLayer::builder(MemoryStore::new()).build().unwrap_err();
/// assert_eq!(err.issues(), [RateLimitConfigIssue::NoPolicies]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitConfigIssue {
    /// No policy was given.
    #[error("a rate limit layer needs at least one policy")]
    NoPolicies,
    /// Two policies share a name (their counts would mix in the store).
    #[error("two policies are named `{0}`")]
    DuplicateName(String),
    /// A policy costs 0 per request.
    #[error("policy `{0}` costs 0 per request: it would limit nothing")]
    ZeroCost(String),
    /// A policy costs more per request than its burst: no request could pass.
    #[error(
        "policy `{policy}` costs {cost} per request but its burst is {burst}: nothing could pass"
    )]
    CostAboveBurst {
        /// The policy.
        policy: String,
        /// Its cost.
        cost: u32,
        /// Its burst.
        burst: u64,
    },
}

/// Why a [`RateLimitLayer`](crate::RateLimitLayer) could not be built: every
/// [`RateLimitConfigIssue`] found, not just the first.
///
/// ```
/// use rampart_ratelimit::{MemoryStore, Policy, RateLimitLayer};
///
/// let err = RateLimitLayer::builder(MemoryStore::new())
///     .policy(Policy::new("api", "10/minute".parse()?)?.cost(0))
///     .policy(Policy::new("api", "10/minute".parse()?)?)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.issues().len(), 2);
/// assert!(err.to_string().contains("costs 0"));
/// assert!(err.to_string().contains("two policies are named `api`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfigError {
    issues: Vec<RateLimitConfigIssue>,
}

impl RateLimitConfigError {
    pub(crate) fn new(issues: Vec<RateLimitConfigIssue>) -> Self {
        Self { issues }
    }

    /// Every problem found, in the order of the policies.
    pub fn issues(&self) -> &[RateLimitConfigIssue] {
        &self.issues
    }
}

impl fmt::Display for RateLimitConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid rate limit configuration ({} problems)",
            self.issues.len()
        )?;
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RateLimitConfigError {}
