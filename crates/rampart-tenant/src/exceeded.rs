//! The rejection of a quota: 429 for rates, 403 for counts.

use std::{borrow::Cow, time::Duration};

use http::{HeaderValue, Response, StatusCode, header};
use rampart_core::{Problem, ResponseBody};

/// The `type` of every problem body this crate answers with.
pub const PROBLEM_TYPE: &str = "https://docs.rs/rampart-tenant/latest/rampart_tenant/#rejections";

/// Which kind of quota was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaKind {
    /// Requests in flight at once (429).
    Concurrent,
    /// Units per calendar month (429, `Retry-After` until the month ends).
    Monthly,
    /// How many of a resource (403).
    Counted,
}

/// A quota that refused: turns into a 429 or 403 problem+json response
/// naming the quota (`quota`, `limit` members).
///
/// # Example
///
/// ```
/// use rampart_tenant::{Limits, Tenant};
///
/// let tenant = Tenant::new("acme".parse().unwrap(), Limits::new().counted("campaigns", 50));
/// let refused = tenant.check_count("campaigns", 50).unwrap_err();
/// let response = refused.into_response::<http_body_util::Full<bytes::Bytes>>();
/// assert_eq!(response.status(), 403);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} quota {quota:?} of {limit} reached", kind_name(*.kind))]
pub struct QuotaExceeded {
    kind: QuotaKind,
    quota: Cow<'static, str>,
    limit: u64,
    retry_after: Option<Duration>,
}

fn kind_name(kind: QuotaKind) -> &'static str {
    match kind {
        QuotaKind::Concurrent => "concurrency",
        QuotaKind::Monthly => "monthly",
        QuotaKind::Counted => "resource",
    }
}

impl QuotaExceeded {
    pub(crate) fn concurrent(limit: u32) -> Self {
        Self {
            kind: QuotaKind::Concurrent,
            quota: Cow::Borrowed("concurrent"),
            limit: u64::from(limit),
            retry_after: None,
        }
    }

    pub(crate) fn monthly(quota: &str, limit: u64, retry_after: Duration) -> Self {
        Self {
            kind: QuotaKind::Monthly,
            quota: Cow::Owned(quota.to_owned()),
            limit,
            retry_after: Some(retry_after),
        }
    }

    pub(crate) fn counted(quota: &str, limit: u64) -> Self {
        Self {
            kind: QuotaKind::Counted,
            quota: Cow::Owned(quota.to_owned()),
            limit,
            retry_after: None,
        }
    }

    /// Which kind of quota.
    pub fn kind(&self) -> QuotaKind {
        self.kind
    }

    /// The quota's name (`concurrent` for the concurrency limit).
    pub fn quota(&self) -> &str {
        &self.quota
    }

    /// The limit that was reached.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// How long until the quota comes back (monthly: until the month ends).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// 429 for concurrency and monthly quotas, 403 for counted resources.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            QuotaKind::Concurrent | QuotaKind::Monthly => StatusCode::TOO_MANY_REQUESTS,
            QuotaKind::Counted => StatusCode::FORBIDDEN,
        }
    }

    /// The problem details body.
    pub fn to_problem(&self) -> Problem {
        let detail = match self.kind {
            QuotaKind::Concurrent => format!(
                "the organization already has {} requests in progress; try again when one finishes",
                self.limit
            ),
            QuotaKind::Monthly => format!(
                "the organization has used its {} {} of this month",
                self.limit, self.quota
            ),
            QuotaKind::Counted => format!(
                "the organization has reached its limit of {} {}",
                self.limit, self.quota
            ),
        };
        Problem::new(self.status())
            .with_type(PROBLEM_TYPE)
            .with_title("Quota exceeded")
            .with_detail(detail)
            .with_extension("quota", self.quota.as_ref())
            .with_extension("limit", self.limit)
    }

    fn retry_after_value(&self) -> Option<HeaderValue> {
        let wait = self.retry_after?;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        HeaderValue::from_str(&secs.max(1).to_string()).ok()
    }

    /// The response (with `Retry-After` for a monthly quota).
    pub fn into_response<B: From<bytes::Bytes>>(self) -> Response<B> {
        let retry = self.retry_after_value();
        let mut response = self.to_problem().into_response();
        if let Some(value) = retry {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }

    pub(crate) fn into_rejection<B>(self) -> Response<ResponseBody<B>> {
        let retry = self.retry_after_value();
        let mut response = self.to_problem().into_rejection();
        if let Some(value) = retry {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for QuotaExceeded {
    fn into_response(self) -> axum::response::Response {
        Self::into_response::<axum::body::Body>(self)
    }
}
