//! The two formats browsers send CSP violation reports in.

use serde_json::{Map, Value};

use crate::csp::Directive;

/// The format of a violation report body, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `application/csp-report`: one `{"csp-report": {...}}` object, sent to
    /// a `report-uri` ([CSP2]).
    ///
    /// [CSP2]: https://www.w3.org/TR/CSP2/#violation-reports
    CspReport,
    /// `application/reports+json`: an array of reports of any type, sent to
    /// a `report-to` endpoint ([Reporting API]); only `csp-violation`
    /// reports are read, the others skipped.
    ///
    /// [Reporting API]: https://www.w3.org/TR/reporting-1/#media-type
    ReportsJson,
}

impl ReportFormat {
    /// The format named by a `Content-Type` value (parameters ignored).
    ///
    /// ```
    /// use rampart_headers::report::ReportFormat;
    ///
    /// assert_eq!(ReportFormat::from_content_type("application/csp-report"), Some(ReportFormat::CspReport));
    /// assert_eq!(
    ///     ReportFormat::from_content_type("application/reports+json; charset=utf-8"),
    ///     Some(ReportFormat::ReportsJson)
    /// );
    /// assert_eq!(ReportFormat::from_content_type("text/plain"), None);
    /// ```
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case("application/csp-report") {
            Some(Self::CspReport)
        } else if essence.eq_ignore_ascii_case("application/reports+json") {
            Some(Self::ReportsJson)
        } else {
            None
        }
    }
}

/// The directive a violation report names: one this crate knows, or
/// "other" (so that counting per directive needs a fixed number of keys,
/// whatever a client sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolatedDirective {
    /// A known directive.
    Known(Directive),
    /// Anything else.
    Other,
}

impl ViolatedDirective {
    /// The directive's name, or `"other"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Known(d) => d.name(),
            Self::Other => "other",
        }
    }

    fn from_report(text: &str) -> Self {
        // CSP2's violated-directive carries the whole directive
        // (`script-src 'self'`); its name is the first word.
        let name = text.split_ascii_whitespace().next().unwrap_or_default();
        Directive::from_name(name).map_or(Self::Other, ViolatedDirective::Known)
    }
}

/// Whether the violated policy was enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The resource was blocked.
    Enforce,
    /// Report-only: nothing was blocked.
    Report,
    /// The report did not say.
    Unknown,
}

/// The longest text kept from one report field; the rest is cut (on a
/// character boundary) so that a log line stays a log line.
const MAX_FIELD: usize = 512;

/// One CSP violation, from either format.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CspViolation {
    /// The directive that was violated.
    pub directive: ViolatedDirective,
    /// The page the violation happened on.
    pub document_uri: Option<String>,
    /// What was blocked (a URL, `inline`, `eval`...).
    pub blocked_uri: Option<String>,
    /// Enforced or report-only.
    pub disposition: Disposition,
    /// The script or style file, if the browser said.
    pub source_file: Option<String>,
    /// The line in that file.
    pub line_number: Option<u64>,
    /// The first characters of the blocked code (with `'report-sample'`).
    pub sample: Option<String>,
}

/// Why a report body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not a report of the declared format.
    #[error("the body is not a CSP report: {0}")]
    NotAReport(&'static str),
}

/// Parses a violation report body.
///
/// # Example
///
/// ```
/// use rampart_headers::{csp::Directive, report::{parse_reports, ReportFormat, ViolatedDirective}};
///
/// let body = br#"{"csp-report": {"document-uri": "https://example.com/",
///     "violated-directive": "script-src 'self'", "blocked-uri": "inline"}}"#;
/// let violations = parse_reports(ReportFormat::CspReport, body)?;
/// assert_eq!(violations[0].directive, ViolatedDirective::Known(Directive::ScriptSrc));
/// assert!(parse_reports(ReportFormat::CspReport, b"nonsense").is_err());
/// # Ok::<(), rampart_headers::report::ReportError>(())
/// ```
pub fn parse_reports(format: ReportFormat, body: &[u8]) -> Result<Vec<CspViolation>, ReportError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ReportError::NotJson(e.to_string()))?;
    match format {
        ReportFormat::CspReport => {
            let report = value
                .get("csp-report")
                .and_then(Value::as_object)
                .ok_or(ReportError::NotAReport("no \"csp-report\" object"))?;
            Ok(vec![legacy(report)?])
        }
        ReportFormat::ReportsJson => {
            let reports = value
                .as_array()
                .ok_or(ReportError::NotAReport("not an array of reports"))?;
            let mut violations = Vec::new();
            for report in reports {
                let report = report
                    .as_object()
                    .ok_or(ReportError::NotAReport("a report is not an object"))?;
                let kind = report
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or(ReportError::NotAReport("a report has no \"type\""))?;
                if kind != "csp-violation" {
                    continue;
                }
                let body = report.get("body").and_then(Value::as_object).ok_or(
                    ReportError::NotAReport("a csp-violation report has no \"body\""),
                )?;
                violations.push(modern(body)?);
            }
            Ok(violations)
        }
    }
}

fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    let text = object.get(key)?.as_str()?;
    let mut end = text.len().min(MAX_FIELD);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_owned())
}

fn number(object: &Map<String, Value>, key: &str) -> Option<u64> {
    object.get(key)?.as_u64()
}

fn disposition(object: &Map<String, Value>) -> Disposition {
    match object.get("disposition").and_then(Value::as_str) {
        Some("enforce") => Disposition::Enforce,
        Some("report") => Disposition::Report,
        _ => Disposition::Unknown,
    }
}

fn legacy(report: &Map<String, Value>) -> Result<CspViolation, ReportError> {
    let directive = report
        .get("effective-directive")
        .or_else(|| report.get("violated-directive"))
        .and_then(Value::as_str)
        .ok_or(ReportError::NotAReport(
            "csp-report has neither effective-directive nor violated-directive",
        ))?;
    Ok(CspViolation {
        directive: ViolatedDirective::from_report(directive),
        document_uri: text(report, "document-uri"),
        blocked_uri: text(report, "blocked-uri"),
        disposition: disposition(report),
        source_file: text(report, "source-file"),
        line_number: number(report, "line-number"),
        sample: text(report, "script-sample"),
    })
}

fn modern(body: &Map<String, Value>) -> Result<CspViolation, ReportError> {
    let directive = body
        .get("effectiveDirective")
        .and_then(Value::as_str)
        .ok_or(ReportError::NotAReport(
            "a csp-violation report has no effectiveDirective",
        ))?;
    Ok(CspViolation {
        directive: ViolatedDirective::from_report(directive),
        document_uri: text(body, "documentURL"),
        blocked_uri: text(body, "blockedURL"),
        disposition: disposition(body),
        source_file: text(body, "sourceFile"),
        line_number: number(body, "lineNumber"),
        sample: text(body, "sample"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_formats() {
        let modern = br#"[
            {"type": "deprecation", "body": {}},
            {"type": "csp-violation", "url": "https://example.com/",
             "body": {"documentURL": "https://example.com/", "effectiveDirective": "img-src",
                      "blockedURL": "https://evil.example/x.png", "disposition": "report",
                      "lineNumber": 3}}]"#;
        let v = parse_reports(ReportFormat::ReportsJson, modern).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].directive, ViolatedDirective::Known(Directive::ImgSrc));
        assert_eq!(v[0].disposition, Disposition::Report);
        assert_eq!(v[0].line_number, Some(3));

        let legacy = br#"{"csp-report": {"effective-directive": "trusted-types-sink"}}"#;
        let v = parse_reports(ReportFormat::CspReport, legacy).unwrap();
        assert_eq!(v[0].directive, ViolatedDirective::Other);
    }

    #[test]
    fn long_fields_are_cut_on_a_char_boundary() {
        let long = "é".repeat(400);
        let body = format!(
            r#"{{"csp-report": {{"violated-directive": "img-src", "blocked-uri": "{long}"}}}}"#
        );
        let v = parse_reports(ReportFormat::CspReport, body.as_bytes()).unwrap();
        let blocked = v[0].blocked_uri.as_deref().unwrap();
        assert!(blocked.len() <= MAX_FIELD);
        assert!(blocked.chars().all(|c| c == 'é'));
    }

    #[test]
    fn garbage_is_an_error() {
        for (format, body) in [
            (ReportFormat::CspReport, &b""[..]),
            (ReportFormat::CspReport, b"[]"),
            (ReportFormat::CspReport, br#"{"csp-report": 1}"#),
            (ReportFormat::CspReport, br#"{"csp-report": {}}"#),
            (ReportFormat::ReportsJson, br#"{"type": "csp-violation"}"#),
            (ReportFormat::ReportsJson, b"[1]"),
            (ReportFormat::ReportsJson, br#"[{"type": "csp-violation"}]"#),
            (
                ReportFormat::ReportsJson,
                br#"[{"type": "csp-violation", "body": {}}]"#,
            ),
        ] {
            assert!(
                parse_reports(format, body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let deep = "[".repeat(10_000);
        assert!(parse_reports(ReportFormat::ReportsJson, deep.as_bytes()).is_err());
    }
}
