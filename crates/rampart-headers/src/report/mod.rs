//! A Tower service which receives CSP violation reports, in both formats
//! browsers send, and counts them per directive.
//!
//! Point the policy at it (`report-uri /csp-report`, or `report-to csp` with
//! a `Reporting-Endpoints: csp="/csp-report"` endpoint) and mount
//! [`CspReportService`] at that path; with axum,
//! `Router::new().route_service("/csp-report", CspReportService::new())`.
//! Put it behind the rate limiter: anyone can POST to it.
//!
//! # Example
//!
//! ```
//! use http::{Request, StatusCode};
//! use rampart_headers::report::CspReportService;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let request = Request::post("/csp-report")
//!     .header("content-type", "application/reports+json")
//!     .body(http_body_util::Full::new(bytes::Bytes::from_static(b"not json")))
//!     .unwrap();
//! let response = CspReportService::new().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//! # }
//! ```

mod counts;
mod parse;
mod service;

pub use self::{
    counts::ViolationCounts,
    parse::{
        CspViolation, Disposition, ReportError, ReportFormat, ViolatedDirective, parse_reports,
    },
    service::CspReportService,
};
