//! RFC 9457 problem details: the body of every Rampart rejection.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value};

use crate::ResponseBody;

/// The media type of a problem details body ([RFC 9457 §3]).
///
/// [RFC 9457 §3]: https://www.rfc-editor.org/rfc/rfc9457#section-3
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object ([RFC 9457]), the body every Rampart rejection
/// (429, 403, 400, 401, 404, 503) carries.
///
/// Build it once per rejection, add the members a client can act on, and turn
/// it into a response with [`Problem::into_response`].
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use rampart_core::Problem;
///
/// let response = Problem::new(StatusCode::TOO_MANY_REQUESTS)
///     .with_type("https://docs.rs/rampart-ratelimit/#limited")
///     .with_detail("policy \"login\" allows 5 requests per 15 minutes")
///     .with_extension("policy", "login")
///     .into_response::<http_body_util::Full<bytes::Bytes>>();
///
/// assert_eq!(response.status(), 429);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
///
/// [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Problem {
    status: StatusCode,
    kind: Option<Cow<'static, str>>,
    title: Option<Cow<'static, str>>,
    detail: Option<Cow<'static, str>>,
    instance: Option<Cow<'static, str>>,
    extensions: Map<String, Value>,
}

impl Problem {
    /// A problem with this status; the title defaults to the status's reason phrase.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            kind: None,
            title: None,
            detail: None,
            instance: None,
            extensions: Map::new(),
        }
    }

    /// The `type` member: a URI that identifies the kind of problem (default `about:blank`).
    pub fn with_type(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        self.kind = Some(uri.into());
        self
    }

    /// The `title` member: a short summary that does not change between occurrences.
    pub fn with_title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The `detail` member: an explanation of this occurrence, for a human.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The `instance` member: a URI reference that identifies this occurrence.
    pub fn with_instance(mut self, instance: impl Into<Cow<'static, str>>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// An extension member. The standard members (`type`, `title`, `status`,
    /// `detail`, `instance`) cannot be overwritten this way.
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if !matches!(
            name.as_str(),
            "type" | "title" | "status" | "detail" | "instance"
        ) {
            self.extensions.insert(name, value.into());
        }
        self
    }

    /// The status code of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body.
    pub fn to_bytes(&self) -> Bytes {
        let mut object = Map::with_capacity(5 + self.extensions.len());
        let kind = self.kind.as_deref().unwrap_or("about:blank");
        object.insert("type".into(), kind.into());
        let title = self
            .title
            .as_deref()
            .or_else(|| self.status.canonical_reason())
            .unwrap_or("Error");
        object.insert("title".into(), title.into());
        object.insert("status".into(), self.status.as_u16().into());
        if let Some(detail) = &self.detail {
            object.insert("detail".into(), detail.as_ref().into());
        }
        if let Some(instance) = &self.instance {
            object.insert("instance".into(), instance.as_ref().into());
        }
        for (name, value) in &self.extensions {
            object.insert(name.clone(), value.clone());
        }
        // Serializing a `Value` built from strings and numbers cannot fail.
        Bytes::from(serde_json::to_vec(&Value::Object(object)).unwrap_or_default())
    }

    /// A response with this status, `Content-Type: application/problem+json`
    /// and the JSON body, in any body type that can be made from [`Bytes`].
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let mut response = Response::new(B::from(self.to_bytes()));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }

    /// A response whose body is a [`ResponseBody`] around the inner service's
    /// body type: what a Rampart middleware returns when it rejects a request.
    pub fn into_rejection<B>(self) -> Response<ResponseBody<B>> {
        let mut response = Response::new(ResponseBody::full(self.to_bytes()));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(problem: &Problem) -> Value {
        serde_json::from_slice(&problem.to_bytes()).unwrap()
    }

    #[test]
    fn defaults_follow_rfc_9457() {
        let body = json(&Problem::new(StatusCode::FORBIDDEN));
        assert_eq!(
            body,
            serde_json::json!({"type": "about:blank", "title": "Forbidden", "status": 403})
        );
    }

    #[test]
    fn members_and_extensions_are_written() {
        let problem = Problem::new(StatusCode::TOO_MANY_REQUESTS)
            .with_type("https://example.com/limited")
            .with_title("Rate limited")
            .with_detail("slow down")
            .with_instance("/auth/login")
            .with_extension("policy", "login")
            .with_extension("retry_after", 17);
        let body = json(&problem);
        assert_eq!(body["type"], "https://example.com/limited");
        assert_eq!(body["title"], "Rate limited");
        assert_eq!(body["status"], 429);
        assert_eq!(body["detail"], "slow down");
        assert_eq!(body["instance"], "/auth/login");
        assert_eq!(body["policy"], "login");
        assert_eq!(body["retry_after"], 17);
    }

    #[test]
    fn extensions_cannot_override_standard_members() {
        let body = json(
            &Problem::new(StatusCode::BAD_REQUEST)
                .with_extension("status", 200)
                .with_extension("title", "fine"),
        );
        assert_eq!(body["status"], 400);
        assert_eq!(body["title"], "Bad Request");
    }

    #[test]
    fn detail_is_escaped() {
        let body =
            json(&Problem::new(StatusCode::BAD_REQUEST).with_detail("a \"quoted\"\n</script>"));
        assert_eq!(body["detail"], "a \"quoted\"\n</script>");
    }

    #[test]
    fn response_carries_status_and_media_type() {
        let response = Problem::new(StatusCode::SERVICE_UNAVAILABLE).into_response::<Bytes>();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["status"], 503);
    }
}
