//! Extractors whose rejections are problem+json: a JSON body, a page of a
//! list, an id in the path.

use axum::{
    extract::{FromRequest, FromRequestParts, Path, Query, Request, rejection::JsonRejection},
    http::request::Parts,
};
use serde::{Deserialize, de::DeserializeOwned};
use utoipa::IntoParams;

use super::ApiError;

/// A JSON request body. Wrong syntax is 400, a wrong shape (missing field,
/// wrong type, unknown field) is 422 naming the field, a missing
/// `Content-Type: application/json` is 415, a body over 2 MiB is 413.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, body::Body, http::Request, routing::post};
/// use operator_demo::api::JsonBody;
/// use tower::ServiceExt;
///
/// #[derive(serde::Deserialize)]
/// struct Input { name: String }
/// let app = Router::new().route("/", post(|JsonBody(input): JsonBody<Input>| async move { input.name }));
/// let request = Request::post("/")
///     .header("content-type", "application/json")
///     .body(Body::from(r#"{"name": 1}"#))
///     .unwrap();
/// assert_eq!(app.oneshot(request).await.unwrap().status(), 422);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            // "Failed to deserialize the JSON body into the target type: name: invalid type ..."
            let text = err.body_text();
            let reason = text
                .split_once(": ")
                .map_or(text.as_str(), |(_, rest)| rest);
            let (field, message) = match reason.split_once(": ") {
                Some((path, message)) if !path.contains(' ') && path != "." => (path, message),
                _ => (missing_field(reason).unwrap_or("body"), reason),
            };
            ApiError::invalid(field, message)
        }
        other => ApiError::BadRequest {
            status: other.status(),
            detail: other.body_text(),
        },
    }
}

/// `name` of serde's "missing field `name` at line ..".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

/// The largest page a list returns.
pub const MAX_LIMIT: i64 = 100;
/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest `offset` accepted.
pub const MAX_OFFSET: i64 = 1_000_000;

/// `?limit=&offset=` of a list: `limit` 1 to 100 (default 20), `offset` 0
/// to 1,000,000 (default 0); anything else is 422 naming the parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: i64,
    /// Items to skip, 0 to 1,000,000.
    #[param(minimum = 0, maximum = 1_000_000, default = 0)]
    pub offset: i64,
}

#[derive(Deserialize)]
struct RawPage {
    limit: Option<String>,
    offset: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) =
            Query::<RawPage>::try_from_uri(&parts.uri).map_err(|err| ApiError::BadRequest {
                status: axum::http::StatusCode::BAD_REQUEST,
                detail: err.body_text(),
            })?;
        let number = |name: &'static str, value: Option<String>, default, min, max| {
            let Some(value) = value else {
                return Ok(default);
            };
            match value.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    name,
                    format!("expected a whole number from {min} to {max}"),
                )),
            }
        };
        Ok(Self {
            limit: number("limit", raw.limit, DEFAULT_LIMIT, 1, MAX_LIMIT)?,
            offset: number("offset", raw.offset, 0, 0, MAX_OFFSET)?,
        })
    }
}

/// The `{id}` of a path, a UUID; anything else is 422 naming `id`. It is
/// returned in the canonical lower-case form the database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid("id", "expected a UUID"))?;
        parse_id("id", &raw).map(Self)
    }
}

/// `value` as a canonical UUID string, or 422 naming `field`.
///
/// ```
/// use operator_demo::api::parse_id;
///
/// assert!(parse_id("id", "0190d6f2-7b7c-7cc0-8f5e-1a2b3c4d5e6f").is_ok());
/// assert!(parse_id("id", "42").is_err());
/// ```
pub fn parse_id(field: &str, value: &str) -> Result<String, ApiError> {
    uuid::Uuid::try_parse(value)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::invalid(field, "expected a UUID"))
}
