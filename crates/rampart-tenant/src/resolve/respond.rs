//! The layer's rejections.

use http::{HeaderValue, Response, StatusCode, header};
use rampart_core::{Problem, ResponseBody};

use crate::{PROBLEM_TYPE, TenantId, TenantIdError, TenantSource};

pub(crate) fn missing<B>() -> Response<ResponseBody<B>> {
    Problem::new(StatusCode::UNAUTHORIZED)
        .with_type(PROBLEM_TYPE)
        .with_title("Tenant required")
        .with_detail("this request must be made on behalf of an organization")
        .into_rejection()
}

pub(crate) fn invalid<B>(
    source: Option<TenantSource>,
    error: &TenantIdError,
) -> Response<ResponseBody<B>> {
    let source = source.map_or("request", TenantSource::as_str);
    Problem::new(StatusCode::BAD_REQUEST)
        .with_type(PROBLEM_TYPE)
        .with_title("Invalid tenant")
        .with_detail(format!(
            "the tenant id in the {source} is not valid: {error}"
        ))
        .with_extension("source", source)
        .into_rejection()
}

pub(crate) fn unknown<B>(id: &TenantId) -> Response<ResponseBody<B>> {
    Problem::new(StatusCode::NOT_FOUND)
        .with_type(PROBLEM_TYPE)
        .with_title("Unknown tenant")
        .with_detail(format!("there is no organization {id}"))
        .with_extension("tenant", id.as_str())
        .into_rejection()
}

/// 503 with `Retry-After: 1`: a failed lookup is not cached, so the next
/// request asks again.
pub(crate) fn unavailable<B>() -> Response<ResponseBody<B>> {
    let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_type(PROBLEM_TYPE)
        .with_title("Tenant lookup unavailable")
        .with_detail("the organization could not be looked up; try again shortly")
        .into_rejection();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
