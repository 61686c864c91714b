#![no_main]
//! Fuzz target for rampart-cors's origin parser, pattern parser and matcher.
//!
//! Properties checked on every input:
//! * nothing panics;
//! * an accepted `Origin` round-trips byte for byte and rebuilds from its parts;
//! * the compiled matcher (hash set + label tree) agrees with the plain
//!   one-pattern check, and a subdomain pattern only ever admits
//!   `https://<labels>.example.com`;
//! * a pattern parsed from the input admits only valid origins.
//!
//! ```text
//! cd fuzz && cargo +nightly fuzz run origin -- -max_total_time=30
//! ```

use std::sync::OnceLock;

use rampart_cors::{AllowedOrigins, Origin, OriginPattern};

const PATTERNS: [&str; 3] = [
    "https://*.example.com",
    "http://localhost:*",
    "https://*.a.example.org:*",
];

fn allowed() -> &'static AllowedOrigins {
    static ALLOWED: OnceLock<AllowedOrigins> = OnceLock::new();
    ALLOWED.get_or_init(|| {
        AllowedOrigins::new(
            ["https://example.com".parse().unwrap()],
            PATTERNS.iter().map(|p| p.parse().unwrap()),
        )
    })
}

fn patterns() -> &'static [OriginPattern] {
    static P: OnceLock<Vec<OriginPattern>> = OnceLock::new();
    P.get_or_init(|| PATTERNS.iter().map(|p| p.parse().unwrap()).collect())
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let parsed = Origin::parse(data);
    if let Ok(origin) = &parsed {
        assert_eq!(origin.as_str().as_bytes(), data);
        let port = origin.port().map(|p| format!(":{p}")).unwrap_or_default();
        assert_eq!(
            format!("{}://{}{}", origin.scheme().as_str(), origin.host(), port),
            origin.as_str()
        );
    }

    let admitted = allowed().matches(data);
    let text = std::str::from_utf8(data).ok();
    let by_pattern = text.is_some_and(|t| patterns().iter().any(|p| p.matches(t)));
    let exact = data == b"https://example.com";
    assert_eq!(
        admitted,
        exact || by_pattern,
        "{:?}",
        String::from_utf8_lossy(data)
    );
    if admitted {
        assert!(parsed.is_ok(), "admitted an unparsable origin");
    }
    if let Some(t) = text {
        if patterns()[0].matches(t) {
            let sub = t
                .strip_prefix("https://")
                .and_then(|r| r.strip_suffix(".example.com"))
                .expect("subdomain pattern admitted a non-subdomain");
            assert!(!sub.is_empty());
            assert!(
                sub.split('.')
                    .all(|l| !l.is_empty() && l.bytes().all(is_label_char))
            );
        }
        // The input as a pattern: whatever it admits is a valid origin.
        if let Ok(pattern) = t.parse::<OriginPattern>() {
            let probe = format!("{}://x.{}", pattern.scheme().as_str(), pattern.base_host());
            if pattern.matches(&probe) {
                assert!(probe.parse::<Origin>().is_ok());
            }
        }
    }
});
