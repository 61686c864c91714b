//! Every way an API request fails, as an `application/problem+json` answer.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rampart::core::Problem;
use serde_json::json;

/// A failed API request. Its response is problem+json; a validation failure
/// names the field in `detail` and in an `errors` member
/// (`[{"field": ..., "message": ...}]`).
///
/// # Example
///
/// ```
/// use axum::response::IntoResponse;
/// use operator_demo::api::ApiError;
///
/// let response = ApiError::invalid("email", "is not an email address").into_response();
/// assert_eq!(response.status(), 422);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A field's value is not acceptable: 422.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault (`name`, `limit`, `custom_fields.x`, ...).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A field is well-formed but contradicts the account (a deletion's
    /// `confirmation` that is not the caller's email): 400 naming the field,
    /// in the same shape as [`ApiError::Invalid`].
    #[error("{field}: {message}")]
    Mismatch {
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request could not be read at all (bad JSON syntax, bad query
    /// string): `status` is 400, 413 or 415.
    #[error("{detail}")]
    BadRequest {
        /// 400, 413 or 415.
        status: StatusCode,
        /// What is wrong.
        detail: String,
    },
    /// Wrong email or password: 401, the same for both.
    #[error("invalid email or password")]
    BadCredentials,
    /// The caller may not do this: 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such thing in the caller's organization: 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// It exists already or its state does not allow this: 409.
    #[error("{0}")]
    Conflict(String),
    /// An organization quota is used up: 403 for counted resources, 429
    /// for rates and concurrency.
    #[error("quota {quota} exceeded (limit {limit})")]
    Quota {
        /// `max_users`, `max_campaigns`, `max_concurrent_calls`, `max_calls_per_month`.
        quota: &'static str,
        /// The organization's limit.
        limit: i64,
        /// 403 or 429.
        status: StatusCode,
    },
    /// Too many attempts: 429 with `Retry-After`.
    #[error("too many attempts")]
    TooManyAttempts {
        /// Seconds until the next attempt may succeed.
        retry_after_secs: u64,
    },
    /// A backing service (database, telephony) is unavailable: 503.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure: 500, logged, no detail to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 422 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Mismatch { .. } => StatusCode::BAD_REQUEST,
            Self::BadRequest { status, .. } | Self::Quota { status, .. } => *status,
            Self::BadCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            // No connection, a dropped one, the server shutting down or
            // starting up: another try may well succeed.
            err if crate::db::is_connection_failure(err) => {
                Self::Unavailable("the database is unavailable".into())
            }
            // 40001: a serialization failure, or a standby cancelling a query
            // to replay the primary's changes; 40P01: a deadlock victim.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("40001" | "40P01")) =>
            {
                Self::Unavailable("the database is busy; retry".into())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict("it exists already".into())
            }
            // SQLITE_BUSY / SQLITE_LOCKED: the write lock stayed taken past
            // the busy timeout; the client may retry.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("5" | "6" | "517" | "262")) =>
            {
                Self::Unavailable("the database is busy; retry".into())
            }
            _ => Self::Internal(err.to_string()),
        }
    }
}

impl From<crate::auth::PoolError> for ApiError {
    /// Every hashing permit taken for the whole wait: 503 with `Retry-After`.
    fn from(err: crate::auth::PoolError) -> Self {
        match err {
            crate::auth::PoolError::Busy => Self::Unavailable(err.to_string()),
            _ => Self::Internal(err.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut problem = Problem::new(status);
        match &self {
            Self::Invalid { field, message } | Self::Mismatch { field, message } => {
                problem = problem
                    .with_title("Invalid input")
                    .with_detail(format!("{field}: {message}"))
                    .with_extension("errors", json!([{ "field": field, "message": message }]));
            }
            Self::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                problem = problem.with_detail("an unexpected error occurred");
            }
            Self::Quota { quota, limit, .. } => {
                problem = problem
                    .with_title("Quota exceeded")
                    .with_detail(self.to_string())
                    .with_extension("quota", *quota)
                    .with_extension("limit", *limit);
            }
            _ => problem = problem.with_detail(self.to_string()),
        }
        let mut response = problem.into_response::<axum::body::Body>().into_response();
        match self {
            Self::TooManyAttempts { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::BadCredentials => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_database_connection_is_503_with_retry_after_never_500() {
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()),
            // The primary's circuit breaker is open.
            crate::db::DatabaseUnavailable::error(),
        ] {
            let shown = err.to_string();
            let response = ApiError::from(err).into_response();
            assert_eq!(response.status(), 503, "{shown}");
            assert_eq!(response.headers()[header::RETRY_AFTER], "1", "{shown}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
        }
    }
}
