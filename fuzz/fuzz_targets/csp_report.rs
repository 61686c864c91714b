#![no_main]
//! The CSP violation report parser never panics, in either format, and
//! every violation it returns names a directive from the fixed set.

use rampart_headers::report::{ReportFormat, ViolatedDirective, parse_reports};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        ReportFormat::CspReport
    } else {
        ReportFormat::ReportsJson
    };
    if let Ok(violations) = parse_reports(format, body) {
        if format == ReportFormat::CspReport {
            assert_eq!(violations.len(), 1);
        }
        for v in violations {
            let name = v.directive.name();
            assert!(
                v.directive == ViolatedDirective::Other
                    || rampart_headers::csp::Directive::from_name(name).is_some()
            );
            for field in [&v.document_uri, &v.blocked_uri, &v.source_file, &v.sample] {
                assert!(field.as_ref().is_none_or(|f| f.len() <= 512));
            }
        }
    }
    // The content-type reader never panics either.
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = ReportFormat::from_content_type(text);
    }
});
