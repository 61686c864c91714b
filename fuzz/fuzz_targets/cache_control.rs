#![no_main]
//! Fuzz target for rampart-cache's `Cache-Control` parser.
//!
//! Properties checked on every input:
//! * nothing panics, on any bytes, as a string or as header values;
//! * the directives it read, written back in canonical form, parse to the
//!   same directives with nothing malformed;
//! * a header value with `no-store` as a whole, comma-separated member is
//!   read as `no-store` whatever surrounds it (unless a quoted string
//!   before it is left open).
//!
//! ```text
//! cd fuzz && cargo +nightly fuzz run cache_control -- -max_total_time=30
//! ```

use http::{HeaderMap, HeaderValue, header::CACHE_CONTROL};
use rampart_cache::CacheControl;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let cc = CacheControl::parse(&text);
    let again = CacheControl::parse(&cc.to_string());
    assert!(!again.malformed, "{:?}", cc.to_string());
    let mut expected = cc.clone();
    expected.malformed = false;
    assert_eq!(again, expected, "{text:?}");

    if !text.contains('"') {
        let with = CacheControl::parse(&format!("{text}, no-store"));
        assert!(with.no_store, "{text:?}");
    }

    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(CACHE_CONTROL, value);
        }
    }
    let _ = CacheControl::from_headers(&headers);
});
