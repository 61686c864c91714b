#![no_main]
//! The Sentry scrubber never panics on any text in any field, finds nothing
//! more in its own output (so nothing it detects survives), and keeps the
//! user's id only.

use rampart_sentry::{
    scrub::{is_sensitive_key, scrub_breadcrumb, scrub_event, scrub_query, scrub_text},
    sentry::protocol::{Breadcrumb, Event, Exception, Map, Request, Url, User, Value},
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

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
