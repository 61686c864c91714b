//! Property tests of the `Cache-Control` parser and the key builder (the
//! fuzz targets `cache_control` and `cache_key` check the same properties
//! for longer).

use proptest::prelude::*;
use rampart_cache::{CacheControl, CacheKey};

/// Directive-like text: known names, values, quotes, commas, junk.
fn header_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("no-store".to_owned()),
        Just("no-cache".to_owned()),
        Just("private".to_owned()),
        Just("public".to_owned()),
        Just("max-age=".to_owned()),
        Just("s-maxage=".to_owned()),
        Just("stale-while-revalidate=".to_owned()),
        Just("stale-if-error=".to_owned()),
        Just(", ".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        "[0-9]{1,25}",
        "[ -~]{0,8}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

fn name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(n, _)| n)
}

proptest! {
    #[test]
    fn cache_control_reparses_to_the_same_directives(text in header_text()) {
        let cc = CacheControl::parse(&text);
        let again = CacheControl::parse(&cc.to_string());
        prop_assert!(!again.malformed);
        let mut expected = cc;
        expected.malformed = false;
        prop_assert_eq!(again, expected);
        if !text.contains('"') {
            let with = format!("{text}, no-store");
            prop_assert!(CacheControl::parse(&with).no_store);
        }
    }

    #[test]
    fn cache_control_never_panics_on_any_text(text in "\\PC{0,64}") {
        let _ = CacheControl::parse(&text);
    }

    #[test]
    fn keys_are_equal_only_for_equal_parts(
        a in prop::collection::vec(prop::collection::vec(0u8..4, 0..4), 0..5),
        b in prop::collection::vec(prop::collection::vec(0u8..4, 0..4), 0..5),
    ) {
        let key = |parts: &[Vec<u8>]| parts.iter().fold(CacheKey::builder(), |k, p| k.part(p)).build();
        prop_assert_eq!(key(&a) == key(&b), a == b);
    }

    #[test]
    fn request_keys_differ_for_different_requests(
        paths in prop::collection::vec("/[ab/]{0,3}", 2),
        queries in prop::collection::vec(prop::option::of("[ab=&]{0,5}"), 2),
        tenants in prop::collection::vec(prop::option::of("[ab]{0,2}"), 2),
        principals in prop::collection::vec(prop::option::of("[ab]{0,2}"), 2),
    ) {
        let key = |i: usize| CacheKey::for_request(
            "GET", &paths[i], queries[i].as_deref(), &[], tenants[i].as_deref(), principals[i].as_deref(),
        );
        let sorted = |q: &Option<String>| q.as_ref().map(|q| {
            let mut pairs: Vec<&str> = q.split('&').collect();
            pairs.sort_by(|a, b| name(a).cmp(name(b)));
            pairs.join("&")
        });
        let same = paths[0] == paths[1]
            && sorted(&queries[0]) == sorted(&queries[1])
            && tenants[0] == tenants[1]
            && principals[0] == principals[1];
        prop_assert_eq!(key(0) == key(1), same);
    }
}
