#![no_main]
//! CSP builder round trip: a policy built from arbitrary typed parts either
//! is refused with a typed error, or renders to text that parses back to the
//! same policy and to a valid header value (with a nonce written in).
//! Arbitrary text that parses renders to text that parses to the same policy.

use arbitrary::Arbitrary;
use rampart_headers::csp::{
    ContentSecurityPolicy, CspNonce, Directive, HashAlgorithm, SandboxFlag, Source,
};

#[derive(Debug, Arbitrary)]
enum FuzzSource {
    SelfOrigin,
    None,
    UnsafeInline,
    UnsafeEval,
    UnsafeHashes,
    WasmUnsafeEval,
    StrictDynamic,
    ReportSample,
    Nonce,
    Hash(u8, String),
    Scheme(String),
    Host(String),
}

#[derive(Debug, Arbitrary)]
enum Part {
    Directive(u8, Vec<FuzzSource>),
    Sandbox(Vec<u8>),
    Upgrade,
    ReportUri(String),
    ReportTo(String),
    Remove(u8),
}

#[derive(Debug, Arbitrary)]
enum Input {
    Typed { parts: Vec<Part>, report_only: bool },
    Text(String),
}

fn directive(i: u8) -> Directive {
    Directive::ALL[usize::from(i) % Directive::ALL.len()]
}

fn source(s: FuzzSource) -> Source {
    match s {
        FuzzSource::SelfOrigin => Source::SelfOrigin,
        FuzzSource::None => Source::None,
        FuzzSource::UnsafeInline => Source::UnsafeInline,
        FuzzSource::UnsafeEval => Source::UnsafeEval,
        FuzzSource::UnsafeHashes => Source::UnsafeHashes,
        FuzzSource::WasmUnsafeEval => Source::WasmUnsafeEval,
        FuzzSource::StrictDynamic => Source::StrictDynamic,
        FuzzSource::ReportSample => Source::ReportSample,
        FuzzSource::Nonce => Source::Nonce,
        FuzzSource::Hash(a, d) => {
            let a = [
                HashAlgorithm::Sha256,
                HashAlgorithm::Sha384,
                HashAlgorithm::Sha512,
            ][usize::from(a) % 3];
            Source::hash(a, d)
        }
        FuzzSource::Scheme(s) => Source::scheme(s),
        FuzzSource::Host(h) => Source::host(h),
    }
}

const FLAGS: [SandboxFlag; 4] = [
    SandboxFlag::AllowScripts,
    SandboxFlag::AllowForms,
    SandboxFlag::AllowSameOrigin,
    SandboxFlag::AllowPopups,
];

fn check(policy: &ContentSecurityPolicy) {
    let text = policy.to_string();
    let parsed: ContentSecurityPolicy = text
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} does not parse back: {e}"));
    assert_eq!(
        parsed
            .to_builder()
            .report_only(policy.is_report_only())
            .build()
            .as_ref(),
        Ok(policy),
        "{text:?}"
    );
    let nonce = CspNonce::generate();
    let value = policy.header_value(Some(&nonce));
    let value = value.to_str().expect("header is visible ASCII");
    if policy.needs_nonce() {
        assert!(value.contains(&format!("'nonce-{nonce}'")));
    } else {
        assert_eq!(value, text);
    }
}

libfuzzer_sys::fuzz_target!(|input: Input| {
    match input {
        Input::Typed { parts, report_only } => {
            let mut builder = ContentSecurityPolicy::builder().report_only(report_only);
            for part in parts {
                builder = match part {
                    Part::Directive(d, sources) => {
                        builder.directive(directive(d), sources.into_iter().map(source))
                    }
                    Part::Sandbox(flags) => builder.sandbox(
                        flags
                            .into_iter()
                            .map(|f| FLAGS[usize::from(f) % FLAGS.len()]),
                    ),
                    Part::Upgrade => builder.upgrade_insecure_requests(),
                    Part::ReportUri(uri) => builder.report_uri(uri),
                    Part::ReportTo(group) => builder.report_to(group),
                    Part::Remove(d) => builder.remove(directive(d)),
                };
            }
            if let Ok(policy) = builder.build() {
                check(&policy);
            }
        }
        Input::Text(text) => {
            if let Ok(policy) = text.parse::<ContentSecurityPolicy>() {
                check(&policy);
            }
        }
    }
});
