#![no_main]
//! The Sentry scrubber never panics on any text in any field, finds nothing
//! more in its own output (so nothing it detects survives), and keeps the
//! user's id only; and the value of a secret key, whatever its bytes, in
//! each shape logs write it (JSON, JSON in a JSON string, Rust `Debug`,
//! `key = value`), is replaced whole by one mask.

use rampart_sentry::{
    scrub::{is_sensitive_key, scrub_breadcrumb, scrub_event, scrub_query, scrub_text},
    sentry::protocol::{Breadcrumb, Event, Exception, Map, Request, Url, User, Value},
};

/// Keys the scrubber knows name a secret.
const KEYS: &[&str] = &[
    "password",
    "token",
    "secret",
    "api_key",
    "authorization",
    "X-Auth-Token",
];
const MASKS: &[&str] = &["[Filtered]", "[email]", "[phone]"];

/// `value` as the secret of a pair in one of the shapes, with what must
/// stand before and after its mask.
fn secret_shape(shape: u8, key: &str, value: &str) -> (String, String, String) {
    let json = |text: &str| Value::from(text).to_string();
    let unquote = |quoted: String| quoted[1..quoted.len() - 1].to_owned();
    match shape % 5 {
        0 => (format!("{{\"{key}\":\""), unquote(json(value)), "\"}".to_owned()),
        1 => (
            format!("{{\\\"{key}\\\":\\\""),
            unquote(json(&unquote(json(value)))),
            "\\\"} tail".to_owned(),
        ),
        2 => (
            format!("Login {{ {key}: \""),
            unquote(format!("{value:?}")),
            "\" }".to_owned(),
        ),
        3 => (
            format!("{key}: Some(\""),
            unquote(format!("{value:?}")),
            "\")".to_owned(),
        ),
        _ => (
            format!("{key} = "),
            value.replace(|c: char| "&;, \t\r\n\"'<>)]}".contains(c), ""),
            " end".to_owned(),
        ),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let [shape, key, rest @ ..] = data {
        let key = KEYS[usize::from(*key) % KEYS.len()];
        let (before, value, after) = secret_shape(*shape, key, &String::from_utf8_lossy(rest));
        if !value.is_empty() && !MASKS.iter().any(|mask| value.starts_with(mask)) {
            let pair = format!("{before}{value}{after}");
            let out = scrub_text(&pair);
            let masked = out
                .strip_prefix(before.as_str())
                .and_then(|out| out.strip_suffix(after.as_str()));
            assert!(
                masked.is_some_and(|mask| MASKS.contains(&mask)),
                "{pair:?} -> {out:?}"
            );
        }
    }

    let once = scrub_text(&text).into_owned();
    assert_eq!(
        scrub_text(&once),
        once.as_str(),
        "scrubbing twice changed {text:?}"
    );
    let query = scrub_query(&text).into_owned();
    let _ = scrub_query(&query);
    let _ = is_sensitive_key(&text);

    let mut headers = Map::new();
    headers.insert("X-Note".to_owned(), text.to_string());
    headers.insert(text.to_string(), text.to_string());
    let request = Request {
        url: Url::parse(&format!("https://user:pw@example.com/{text}?{text}#{text}")).ok(),
        query_string: Some(text.to_string()),
        data: Some(text.to_string()),
        headers,
        ..Request::default()
    };
    let mut event = Event {
        message: Some(text.to_string()),
        transaction: Some(text.to_string()),
        user: Some(User {
            id: Some("u1".to_owned()),
            email: Some(text.to_string()),
            ..User::default()
        }),
        request: Some(request),
        ..Event::default()
    };
    event.tags.insert(text.to_string(), text.to_string());
    event.extra.insert(
        text.to_string(),
        Value::from(vec![Value::from(text.to_string())]),
    );
    event.exception.values.push(Exception {
        ty: "Error".to_owned(),
        value: Some(text.to_string()),
        ..Exception::default()
    });
    event.breadcrumbs.values.push(Breadcrumb {
        message: Some(text.to_string()),
        ..Breadcrumb::default()
    });
    let event = scrub_event(event);
    let user = event.user.expect("the user stays");
    assert_eq!((user.id.as_deref(), user.email), (Some("u1"), None));
    assert_eq!(event.message.as_deref(), Some(once.as_str()));
    let crumb = scrub_breadcrumb(Breadcrumb {
        message: Some(text.to_string()),
        ..Breadcrumb::default()
    });
    assert_eq!(crumb.message.as_deref(), Some(once.as_str()));
});
