//! Property tests: a pattern admits its host's subdomains at a label boundary
//! and nothing else; the parser never panics and round-trips what it accepts.

use proptest::prelude::*;
use rampart_cors::{AllowedOrigins, Origin, OriginPattern};

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn allowed() -> AllowedOrigins {
    AllowedOrigins::new(
        ["https://example.com".parse().unwrap()],
        ["https://*.example.com".parse().unwrap()],
    )
}

/// The reference rule, written independently of the parser: scheme
/// `https://`, then one or more labels of `[a-z0-9_-]`, then `.example.com`,
/// nothing after.
fn is_subdomain(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://") else {
        return false;
    };
    let Some(sub) = rest.strip_suffix(".example.com") else {
        return false;
    };
    !sub.is_empty()
        && sub.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

proptest! {
    #[test]
    fn pattern_admits_exactly_the_subdomains(
        prefix in "[a-zA-Z0-9.@:/_*-]{0,20}",
        middle in prop::sample::select(vec![".example.com", "example.com", "-example.com", "exampleXcom", ".example.com.", ".example.co", ".example.com.evil.com", "@example.com", ".example.com@evil.com", ".example.com:443", ".example.com/"]),
        suffix in "[a-z.:@/]{0,8}",
        scheme in prop::sample::select(vec!["https://", "http://", "", "HTTPS://", "https:/"]),
    ) {
        let origin = format!("{scheme}{prefix}{middle}{suffix}");
        let pattern: OriginPattern = "https://*.example.com".parse().unwrap();
        prop_assert_eq!(pattern.matches(&origin), is_subdomain(&origin), "{}", origin);
        let exact = origin == "https://example.com";
        prop_assert_eq!(allowed().matches(origin.as_bytes()), exact || is_subdomain(&origin), "{}", origin);
    }

    #[test]
    fn real_subdomains_are_admitted(labels in prop::collection::vec(label(), 1..5)) {
        let origin = format!("https://{}.example.com", labels.join("."));
        prop_assert!(allowed().matches(origin.as_bytes()));
    }

    #[test]
    fn lookalikes_are_refused(evil in label(), sep in prop::sample::select(vec!["-", "", "X", "_"])) {
        for origin in [
            format!("https://{evil}{sep}example.com"),
            format!("https://example.com.{evil}.com"),
            format!("https://example.com@{evil}.com"),
            format!("https://{evil}.example.com.{evil}.com"),
            format!("https://{evil}.example.com@{evil}.com"),
            format!("http://{evil}.example.com"),
        ] {
            prop_assert!(!allowed().matches(origin.as_bytes()), "{}", origin);
        }
    }

    #[test]
    fn origin_parser_never_panics_and_round_trips(input in any::<Vec<u8>>()) {
        if let Ok(origin) = Origin::parse(&input) {
            prop_assert_eq!(origin.as_str().as_bytes(), &input[..]);
            let again: Origin = origin.as_str().parse().unwrap();
            prop_assert_eq!(again, origin);
        }
    }

    #[test]
    fn origin_like_strings_round_trip(s in "(https?)://[a-z0-9.:\\[\\]-]{0,30}") {
        if let Ok(origin) = s.parse::<Origin>() {
            prop_assert_eq!(origin.to_string(), s.clone());
            let port = origin.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rebuilt = format!("{}://{}{}", origin.scheme().as_str(), origin.host(), port);
            prop_assert_eq!(rebuilt, s);
        }
    }

    #[test]
    fn pattern_parser_never_panics(s in "\\PC{0,40}") {
        let _ = s.parse::<OriginPattern>();
    }
}
