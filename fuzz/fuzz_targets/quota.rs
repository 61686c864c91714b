#![no_main]
//! Fuzzes the quota (`100/minute;burst=20`) and policy (`api=100/minute`)
//! parsers: no panic on any input, and every quota that parses displays as
//! text that parses back to the same quota.

use rampart_ratelimit::{Policy, Quota};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(quota) = text.parse::<Quota>() {
        let shown = quota.to_string();
        assert_eq!(
            shown.parse::<Quota>().ok(),
            Some(quota),
            "{text:?} -> {shown:?}"
        );
        assert!(quota.count() >= 1 && quota.burst() >= 1);
        assert!(quota.interval().as_micros() >= 1);
        let _ = quota.divided_among(3);
    }
    if let Ok(policy) = text.parse::<Policy>() {
        assert!(!policy.name().is_empty());
    }
    if let Some((name, rest)) = text.split_once('\n') {
        let _ = Policy::parse(name, rest);
    }
});
