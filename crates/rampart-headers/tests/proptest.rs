//! Property tests of the two parsers: CSP text and violation reports.

use proptest::prelude::*;
use rampart_headers::{
    csp::{ContentSecurityPolicy, CspNonce, Directive, Source},
    report::{ReportFormat, parse_reports},
};

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        Just(Source::SelfOrigin),
        Just(Source::None),
        Just(Source::UnsafeInline),
        Just(Source::UnsafeEval),
        Just(Source::StrictDynamic),
        Just(Source::Nonce),
        "[a-z]{1,8}".prop_map(Source::scheme),
        "(https://)?(\\*\\.)?[a-z0-9]{1,10}(\\.[a-z]{2,5})?(:[0-9]{1,4})?(/[a-z]{0,5})?"
            .prop_map(Source::host),
        "[ -~]{0,12}".prop_map(Source::host),
    ]
}

fn directive() -> impl Strategy<Value = Directive> {
    (0..Directive::ALL.len()).prop_map(|i| Directive::ALL[i])
}

proptest! {
    #[test]
    fn built_policies_round_trip_through_text(
        parts in prop::collection::vec((directive(), prop::collection::vec(source(), 0..4)), 1..6)
    ) {
        let mut builder = ContentSecurityPolicy::builder();
        for (d, sources) in parts {
            builder = builder.directive(d, sources);
        }
        if let Ok(policy) = builder.build() {
            let text = policy.to_string();
            let parsed: ContentSecurityPolicy = text.parse().unwrap();
            prop_assert_eq!(&parsed, &policy);
            let nonce = CspNonce::generate();
            let value = policy.header_value(Some(&nonce));
            prop_assert!(value.to_str().is_ok());
            prop_assert_eq!(policy.needs_nonce(), value.to_str().unwrap().contains(nonce.as_str()));
        }
    }

    #[test]
    fn policy_text_never_panics_and_reparses(text in "[ -~]{0,80}") {
        if let Ok(policy) = text.parse::<ContentSecurityPolicy>() {
            prop_assert_eq!(policy.to_string().parse::<ContentSecurityPolicy>().unwrap(), policy);
        }
    }

    #[test]
    fn report_parser_never_panics(body in prop::collection::vec(any::<u8>(), 0..256), modern in any::<bool>()) {
        let format = if modern { ReportFormat::ReportsJson } else { ReportFormat::CspReport };
        let _ = parse_reports(format, &body);
    }

    #[test]
    fn report_parser_reads_any_directive_name(name in "[ -~]{0,30}") {
        let body = serde_json::json!({"csp-report": {"effective-directive": name}}).to_string();
        let violations = parse_reports(ReportFormat::CspReport, body.as_bytes()).unwrap();
        let expected = name
            .split_ascii_whitespace()
            .next()
            .and_then(Directive::from_name)
            .map_or("other", Directive::name);
        prop_assert_eq!(violations[0].directive.name(), expected);
    }
}
