//! Properties of the scrubber: it never panics, and what it is meant to
//! find never survives, whatever text stands around it.

use proptest::prelude::*;
use rampart_sentry::scrub::{scrub_breadcrumb, scrub_event, scrub_query, scrub_text};
use sentry::protocol::{Breadcrumb, Event, Exception, Request, User, Value};

/// An email address of the usual shape.
fn email() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9][a-zA-Z0-9._+-]{0,15}",
        prop::collection::vec("[a-z0-9][a-z0-9-]{0,8}[a-z0-9]|[a-z0-9]", 1..3),
        "[a-z]{2,6}",
    )
        .prop_map(|(local, labels, tld)| format!("{local}@{}.{tld}", labels.join(".")))
}

/// An E.164 number, written with or without separators.
fn e164() -> impl Strategy<Value = String> {
    (
        "[1-9]",
        "[0-9]{7,13}",
        prop::sample::select(vec!["", " ", "-"]),
    )
        .prop_map(|(country, rest, sep)| {
            let (a, b) = rest.split_at(rest.len() / 2);
            format!("+{country}{sep}{a}{sep}{b}")
        })
}

/// A key the scrubber knows names a secret, as code spells it.
fn secret_key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "password",
        "Password",
        "db_password",
        "passwd",
        "pwd",
        "token",
        "access_token",
        "refresh-token",
        "secret",
        "client_secret",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "authorization",
        "Authorization",
        "credentials",
        "private_key",
        "session_id",
        "cookie",
    ])
}

/// A secret's recognisable core: nothing in the noise around it spells it.
fn secret_core() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]{6,14}".prop_map(|core| format!("Zq{core}"))
}

/// A secret pair in one of the shapes logs and error messages write, and
/// the core of its value: `key=v`, `key = v`, `key: v`, JSON (the value
/// with quotes and backslashes, the object also escaped inside a JSON
/// string), Rust `Debug` (`key: "v"`, `key: Some("v")`), single quotes.
fn secret_pair() -> impl Strategy<Value = (String, String)> {
    (
        secret_key(),
        secret_core(),
        "[ a-z\"\\\\'é]{0,4}",
        "[ a-z\"\\\\'é]{0,4}",
        0..10usize,
    )
        .prop_map(|(key, core, pre, post, shape)| {
            let rich = format!("{pre}{core}{post}");
            let json = |value: &str| Value::from(value).to_string();
            let text = match shape {
                0 => format!("{key}={core}"),
                1 => format!("{key} = {core}"),
                2 => format!("{key}:\t{core}"),
                3 => format!("{{{}:{}}}", json(key), json(&rich)),
                4 => format!("{{{}: {}, \"n\": 1}}", json(key), json(&rich)),
                5 => {
                    let object = format!("{{{}:{}}}", json(key), json(&rich));
                    format!("{{\"body\":{}}}", json(&object))
                }
                6 => format!("Login {{ {key}: {rich:?}, n: 1 }}"),
                7 => format!("Creds {{ {key}: Some({rich:?}) }}"),
                8 => format!("{key}={rich:?}"),
                _ => format!("{{'{key}': '{}'}}", rich.replace(['\'', '\\'], "")),
            };
            (text, core)
        })
}

/// Text that may hold anything, as logs do.
fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[ -~]{0,40}",
        "[0-9 :.+()@/-]{0,30}",
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics(text in ".{0,200}") {
        let _ = scrub_text(&text);
        let _ = scrub_query(&text);
    }

    #[test]
    fn never_panics_on_digit_soup(text in "[0-9 ()+.:/%2B@-]{0,80}") {
        let _ = scrub_text(&text);
        let _ = scrub_query(&text);
    }

    #[test]
    fn an_email_never_survives(before in noise(), email in email(), after in noise()) {
        let text = format!("{before}{email}{after}");
        let out = scrub_text(&text);
        prop_assert!(!out.contains(&email), "{text:?} -> {out:?}");
    }

    #[test]
    fn an_encoded_email_never_survives_a_query(key in "[a-z]{1,8}", email in email(), rest in "[a-z0-9=&]{0,20}") {
        let query = format!("{key}={}&{rest}", email.replace('@', "%40").replace('+', "%2B"));
        let out = scrub_query(&query);
        let local = email.split('@').next().unwrap();
        prop_assert!(!out.contains(&email.replace('@', "%40")), "{query:?} -> {out:?}");
        prop_assert!(!out.contains(&format!("{local}%40")), "{query:?} -> {out:?}");
    }

    #[test]
    fn an_e164_number_never_survives(before in noise(), phone in e164(), after in noise()) {
        let text = format!("{before} {phone} {after}");
        let out = scrub_text(&text);
        prop_assert!(!out.contains(&phone), "{text:?} -> {out:?}");
    }

    #[test]
    fn a_secret_value_never_survives(before in noise(), (pair, core) in secret_pair(), after in noise()) {
        let text = format!("{before} {pair} {after}");
        let out = scrub_text(&text);
        prop_assert!(!out.contains(&core), "{text:?} -> {out:?}");
        let twice = scrub_text(&out).into_owned();
        prop_assert_eq!(&twice, &*out, "{:?}", text);
    }

    #[test]
    fn events_never_carry_a_secret_value((pair, core) in secret_pair()) {
        let mut event = Event {
            message: Some(pair.clone()),
            ..Event::default()
        };
        event.extra.insert("body".into(), Value::from(pair.clone()));
        event.exception.values.push(Exception {
            ty: "Error".into(),
            value: Some(pair),
            ..Exception::default()
        });
        let json = serde_json::to_string(&scrub_event(event)).unwrap();
        prop_assert!(!json.contains(&core), "{json}");
    }

    #[test]
    fn scrubbing_twice_changes_nothing(text in ".{0,120}") {
        let once = scrub_text(&text).into_owned();
        let twice = scrub_text(&once).into_owned();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn scrubbing_twice_changes_nothing_in_dense_text(
        text in "(token=|pwd: |Bearer |%40|%2B|é|\\\\|\"password\"|'secret'|Some\\(|[a-z0-9@.+:=/ ()\"'-]){0,40}"
    ) {
        let once = scrub_text(&text).into_owned();
        let twice = scrub_text(&once).into_owned();
        prop_assert_eq!(once, twice, "{:?}", text);
    }

    #[test]
    fn timestamps_and_ids_are_kept(
        secs in 1_000_000_000u64..4_000_000_000,
        millis in 0u32..1000,
        (y, mo, d, h, mi, s) in (1970u32..2100, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..60),
        uuid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    ) {
        let text = format!(
            "at {secs} ({secs}{millis:03} ms) {y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z \
             {d:02}.{mo:02}.{y:04} {h:02}:{mi:02} {mo:02}/{d:02}/{y:04} id {uuid} v{mo}.{d}.{h}"
        );
        prop_assert_eq!(scrub_text(&text), text.as_str());
    }

    #[test]
    fn events_never_carry_an_email(email in email(), text in noise()) {
        let dirty = format!("{text} {email}");
        let mut headers = sentry::protocol::Map::new();
        headers.insert("Cookie".to_owned(), dirty.clone());
        headers.insert("X-Note".to_owned(), dirty.clone());
        let request = Request {
            query_string: Some(format!("q={}", email.replace('@', "%40"))),
            data: Some(dirty.clone()),
            headers,
            ..Request::default()
        };
        let mut event = Event {
            message: Some(dirty.clone()),
            user: Some(User {
                id: Some("u1".into()),
                email: Some(email.clone()),
                username: Some(email.clone()),
                ..User::default()
            }),
            request: Some(request),
            ..Event::default()
        };
        event.tags.insert("who".into(), dirty.clone());
        event.extra.insert("nested".into(), Value::from(vec![Value::from(dirty.clone())]));
        event.exception.values.push(Exception {
            ty: "Error".into(),
            value: Some(dirty.clone()),
            ..Exception::default()
        });
        event.breadcrumbs.values.push(scrub_breadcrumb(Breadcrumb {
            message: Some(dirty.clone()),
            ..Breadcrumb::default()
        }));
        event.breadcrumbs.values.push(Breadcrumb {
            message: Some(dirty),
            ..Breadcrumb::default()
        });
        let json = serde_json::to_string(&scrub_event(event)).unwrap();
        prop_assert!(!json.contains(&email), "{json}");
        prop_assert!(!json.contains(&email.replace('@', "%40")), "{json}");
        prop_assert!(json.contains("\"u1\""));
    }
}
