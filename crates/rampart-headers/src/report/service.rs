//! The endpoint browsers POST violation reports to.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use rampart_core::Problem;
use tower_service::Service;

use super::{ReportFormat, ViolationCounts, parse_reports};

/// The default largest body accepted: 64 KiB, many reports' worth.
const DEFAULT_MAX_BODY: usize = 64 * 1024;

const TYPE_BASE: &str = "https://docs.rs/rampart-headers/latest/rampart_headers/report/";

/// A Tower service that receives CSP violation reports: mount it at the
/// path the policy's `report-uri` or `Reporting-Endpoints` names.
///
/// - `POST` only (else 405 with `Allow: POST`);
/// - `Content-Type` `application/csp-report` or `application/reports+json`
///   (else 415);
/// - at most [`max_body_bytes`](Self::max_body_bytes) (default 64 KiB; else
///   413, decided from `Content-Length` before reading when there is one);
/// - a body that is not a report of its format gets 400;
/// - each violation is logged (`tracing`, target `rampart_headers::csp`, at
///   `WARN`) and counted per directive in [`counts`](Self::counts), then
///   `204 No Content`.
///
/// Errors are `application/problem+json`. Clones share the counters.
///
/// # Example
///
/// ```
/// use http::{Request, StatusCode};
/// use rampart_headers::{csp::Directive, report::{CspReportService, ViolatedDirective}};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let reports = CspReportService::new();
/// let body = r#"{"csp-report": {"effective-directive": "script-src-elem", "blocked-uri": "inline"}}"#;
/// let request = Request::post("/csp-report")
///     .header("content-type", "application/csp-report")
///     .body(http_body_util::Full::new(bytes::Bytes::from(body)))
///     .unwrap();
/// let response = reports.clone().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::NO_CONTENT);
/// assert_eq!(reports.counts().get(ViolatedDirective::Known(Directive::ScriptSrcElem)), 1);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CspReportService {
    max_body: usize,
    counts: ViolationCounts,
}

impl Default for CspReportService {
    fn default() -> Self {
        Self::new()
    }
}

impl CspReportService {
    /// A report endpoint with a 64 KiB body limit and fresh counters.
    pub fn new() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
            counts: ViolationCounts::default(),
        }
    }

    /// The largest body accepted, in bytes.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Counts into these counters (to share them with a metrics exporter).
    pub fn with_counts(mut self, counts: ViolationCounts) -> Self {
        self.counts = counts;
        self
    }

    /// The violations counted so far.
    pub fn counts(&self) -> &ViolationCounts {
        &self.counts
    }
}

fn problem(status: StatusCode, kind: &'static str, detail: String) -> Response<Full<Bytes>> {
    Problem::new(status)
        .with_type(format!("{TYPE_BASE}#{kind}"))
        .with_detail(detail)
        .into_response()
}

impl<B> Service<Request<B>> for CspReportService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    // Boxed: this is an endpoint a browser calls on a violation, not a layer
    // every request passes through, and reading a body takes an async block.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let max = self.max_body;
        let counts = self.counts.clone();
        Box::pin(async move { Ok(receive(request, max, &counts).await) })
    }
}

async fn receive<B>(
    request: Request<B>,
    max: usize,
    counts: &ViolationCounts,
) -> Response<Full<Bytes>>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if request.method() != Method::POST {
        let mut response = problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            "violation reports are POSTed".into(),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let format = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(ReportFormat::from_content_type);
    let Some(format) = format else {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
            "expected Content-Type application/csp-report or application/reports+json".into(),
        );
    };
    let too_large = || {
        problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("a violation report body is at most {max} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return too_large();
    }
    let body = match Limited::new(request.into_body(), max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "body",
                format!("the body could not be read: {e}"),
            );
        }
    };
    let violations = match parse_reports(format, &body) {
        Ok(violations) => violations,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "malformed", e.to_string()),
    };
    for v in &violations {
        counts.record(v.directive);
        tracing::warn!(
            target: "rampart_headers::csp",
            directive = v.directive.name(),
            blocked_uri = v.blocked_uri.as_deref().unwrap_or(""),
            document_uri = v.document_uri.as_deref().unwrap_or(""),
            source_file = v.source_file.as_deref().unwrap_or(""),
            line = v.line_number.unwrap_or(0),
            disposition = ?v.disposition,
            "CSP violation"
        );
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}
