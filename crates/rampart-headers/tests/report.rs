//! The CSP violation report endpoint as a browser (or an attacker) sees it.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use rampart_headers::{
    csp::Directive,
    report::{CspReportService, ViolatedDirective},
};
use tower::ServiceExt;

async fn post(
    service: &CspReportService,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> (StatusCode, serde_json::Value, Response<Full<Bytes>>) {
    let mut request = Request::post("/csp-report");
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let request = request.body(Full::new(body.into())).unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        assert_eq!(parts.headers["content-type"], "application/problem+json");
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, json, Response::from_parts(parts, Full::new(bytes)))
}

const LEGACY: &str = r#"{"csp-report": {
    "document-uri": "https://app.example/calls",
    "referrer": "",
    "violated-directive": "script-src-elem",
    "effective-directive": "script-src-elem",
    "original-policy": "default-src 'self'; script-src 'nonce-abc'; report-uri /csp-report",
    "disposition": "enforce",
    "blocked-uri": "https://evil.example/x.js",
    "line-number": 12,
    "source-file": "https://app.example/calls",
    "status-code": 200,
    "script-sample": ""}}"#;

const MODERN: &str = r#"[
  {"age": 10, "type": "csp-violation", "url": "https://app.example/",
   "user_agent": "Mozilla/5.0",
   "body": {"blockedURL": "inline", "disposition": "report", "documentURL": "https://app.example/",
            "effectiveDirective": "style-src-attr", "originalPolicy": "style-src 'self'",
            "referrer": "", "sample": "color: red", "statusCode": 200}},
  {"age": 10, "type": "csp-violation", "url": "https://app.example/",
   "body": {"blockedURL": "https://cdn.example/a.png", "effectiveDirective": "img-src"}},
  {"type": "deprecation", "url": "https://app.example/", "body": {"id": "x"}}
]"#;

#[tokio::test]
async fn legacy_report_is_accepted_and_counted() {
    let service = CspReportService::new();
    let (status, _, _) = post(&service, Some("application/csp-report"), LEGACY).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let counts = service.counts();
    assert_eq!(
        counts.get(ViolatedDirective::Known(Directive::ScriptSrcElem)),
        1
    );
    assert_eq!(counts.total(), 1);
}

#[tokio::test]
async fn reporting_api_batch_is_accepted_and_counted_per_directive() {
    let service = CspReportService::new();
    let (status, _, _) = post(&service, Some("application/reports+json"), MODERN).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = post(
        &service,
        Some("Application/Reports+JSON; charset=utf-8"),
        MODERN,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let counts = service.counts();
    assert_eq!(
        counts.get(ViolatedDirective::Known(Directive::StyleSrcAttr)),
        2
    );
    assert_eq!(counts.get(ViolatedDirective::Known(Directive::ImgSrc)), 2);
    assert_eq!(counts.total(), 4);
    assert_eq!(counts.snapshot(), [("style-src-attr", 2), ("img-src", 2)]);
}

#[tokio::test]
async fn unknown_directives_share_one_other_counter() {
    let service = CspReportService::new();
    for i in 0..100 {
        let body = format!(r#"{{"csp-report": {{"effective-directive": "made-up-{i}"}}}}"#);
        let (status, _, _) = post(&service, Some("application/csp-report"), body).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert_eq!(service.counts().get(ViolatedDirective::Other), 100);
    assert_eq!(service.counts().snapshot(), [("other", 100)]);
}

#[tokio::test]
async fn malformed_bodies_are_400_problems() {
    let service = CspReportService::new();
    for (content_type, body) in [
        ("application/csp-report", ""),
        ("application/csp-report", "not json"),
        ("application/csp-report", "{\"csp-report\": "),
        ("application/csp-report", "[]"),
        ("application/csp-report", "{\"csp-report\": \"x\"}"),
        (
            "application/csp-report",
            "{\"csp-report\": {\"blocked-uri\": \"x\"}}",
        ),
        (
            "application/csp-report",
            "{\"csp-report\": {\"effective-directive\": 7}}",
        ),
        ("application/reports+json", "{}"),
        ("application/reports+json", "[null]"),
        ("application/reports+json", "[{\"body\": {}}]"),
        (
            "application/reports+json",
            "[{\"type\": \"csp-violation\", \"body\": []}]",
        ),
        ("application/reports+json", MODERN.trim_end_matches(']')),
        ("application/reports+json", "\u{feff}[]"),
        ("application/csp-report", "\u{0}\u{1}\u{2}"),
    ] {
        let (status, json, _) = post(&service, Some(content_type), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type} {body:?}");
        assert_eq!(json["status"], 400);
        assert!(json["detail"].as_str().unwrap().contains("body"), "{json}");
    }
    let deep = "[".repeat(10_000);
    let (status, _, _) = post(&service, Some("application/reports+json"), deep).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let bad_utf8 = Bytes::from_static(b"{\"csp-report\": {\"effective-directive\": \"\xff\"}}");
    let (status, _, _) = post(&service, Some("application/csp-report"), bad_utf8).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(service.counts().total(), 0);
}

#[tokio::test]
async fn an_empty_batch_is_fine() {
    let service = CspReportService::new();
    let (status, _, _) = post(&service, Some("application/reports+json"), "[]").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn wrong_content_types_are_415() {
    let service = CspReportService::new();
    for content_type in [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("application/csp-reportx"),
        Some("multipart/form-data; boundary=x"),
        Some(""),
    ] {
        let (status, json, _) = post(&service, content_type, LEGACY).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_eq!(json["status"], 415);
    }
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let request = Request::get("/csp-report")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = CspReportService::new().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn oversized_bodies_are_413_by_length_or_by_stream() {
    let service = CspReportService::new().max_body_bytes(1024);
    let big = format!(
        r#"{{"csp-report": {{"effective-directive": "img-src", "blocked-uri": "{}"}}}}"#,
        "a".repeat(2000)
    );
    let (status, json, _) = post(&service, Some("application/csp-report"), big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["status"], 413);

    // A lying Content-Length.
    let request = Request::post("/csp-report")
        .header("content-type", "application/csp-report")
        .header("content-length", "10")
        .body(Full::new(Bytes::from(big.clone())))
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A streamed body without a length, in small chunks.
    let chunks = big
        .as_bytes()
        .chunks(100)
        .map(Bytes::copy_from_slice)
        .collect();
    let request = Request::post("/csp-report")
        .header("content-type", "application/csp-report")
        .body(Chunks(chunks))
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Just under the limit is accepted.
    let fits = format!(
        r#"{{"csp-report": {{"effective-directive": "img-src", "blocked-uri": "{}"}}}}"#,
        "a".repeat(900)
    );
    assert!(fits.len() <= 1024);
    let (status, _, _) = post(&service, Some("application/csp-report"), fits).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(service.counts().total(), 1);
}

/// A body that arrives in chunks and does not say how long it is.
struct Chunks(std::collections::VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|c| Ok(http_body::Frame::data(c))))
    }
}
