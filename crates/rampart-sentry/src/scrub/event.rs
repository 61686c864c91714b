//! Walks an event and a breadcrumb, scrubbing every free-text field.

use std::borrow::Cow;

use sentry::protocol::{Breadcrumb, Context, Event, Frame, Map, Request, User, Value};

use super::{
    keys::{SENSITIVE_HEADERS, is_sensitive_key},
    query::scrub_query,
    text::{FILTERED, scrub_text},
};

/// Removes secrets and personal data from an event before it is sent: what
/// [`before_send`](super::before_send) runs.
///
/// - request: `Authorization`, `Proxy-Authorization`, `Cookie`,
///   `Set-Cookie`, `X-Api-Key` and the other [`SENSITIVE_HEADERS`] removed,
///   the cookie field dropped, the URL's user info, path and query, the query
///   string, the body, the other headers and the environment scrubbed;
/// - user: only the id stays (no email, name, IP address or other fields);
/// - message, log entry and its parameters, culprit, transaction name,
///   exception values, stack frame variables, breadcrumbs, tags, extra data
///   and free-form contexts: emails, phone numbers, tokens masked, values of
///   keys named like secrets replaced.
///
/// # Example
///
/// ```
/// use rampart_sentry::scrub::scrub_event;
/// use sentry::protocol::{Event, Request, User};
///
/// let mut event = Event::default();
/// event.message = Some("signup failed for alice@example.com".into());
/// event.user = Some(User { id: Some("u1".into()), email: Some("alice@example.com".into()), ..Default::default() });
/// let mut request = Request::default();
/// request.headers.insert("Authorization".into(), "Bearer abc".into());
/// request.headers.insert("Accept".into(), "application/json".into());
/// event.request = Some(request);
///
/// let event = scrub_event(event);
/// assert_eq!(event.message.as_deref(), Some("signup failed for [email]"));
/// let user = event.user.unwrap();
/// assert_eq!((user.id.as_deref(), user.email), (Some("u1"), None));
/// let headers = &event.request.unwrap().headers;
/// assert!(!headers.contains_key("Authorization"));
/// assert_eq!(headers["Accept"], "application/json");
/// ```
pub fn scrub_event(mut event: Event<'static>) -> Event<'static> {
    scrub_opt(&mut event.message);
    scrub_opt(&mut event.culprit);
    scrub_opt(&mut event.transaction);
    if let Some(entry) = event.logentry.as_mut() {
        scrub_string(&mut entry.message);
        entry.params.iter_mut().for_each(scrub_value);
    }
    if let Some(user) = event.user.take() {
        event.user = Some(User {
            id: user.id,
            ..User::default()
        });
    }
    if let Some(request) = event.request.as_mut() {
        scrub_request(request);
    }
    for exception in &mut event.exception.values {
        scrub_opt(&mut exception.value);
        for trace in [&mut exception.stacktrace, &mut exception.raw_stacktrace] {
            if let Some(trace) = trace.as_mut() {
                trace.frames.iter_mut().for_each(scrub_frame);
            }
        }
    }
    for thread in &mut event.threads.values {
        for trace in [&mut thread.stacktrace, &mut thread.raw_stacktrace] {
            if let Some(trace) = trace.as_mut() {
                trace.frames.iter_mut().for_each(scrub_frame);
            }
        }
    }
    if let Some(trace) = event.stacktrace.as_mut() {
        trace.frames.iter_mut().for_each(scrub_frame);
    }
    for crumb in &mut event.breadcrumbs.values {
        scrub_breadcrumb_in_place(crumb);
    }
    for (key, value) in &mut event.tags {
        if is_sensitive_key(key) {
            *value = FILTERED.to_owned();
        } else {
            scrub_string(value);
        }
    }
    scrub_map(&mut event.extra);
    for context in event.contexts.values_mut() {
        if let Context::Other(map) = context {
            scrub_map(map);
        }
    }
    event
}

/// Removes secrets and personal data from a breadcrumb: its message and
/// data. What [`before_breadcrumb`](super::before_breadcrumb) runs.
///
/// # Example
///
/// ```
/// use rampart_sentry::scrub::scrub_breadcrumb;
/// use sentry::protocol::{Breadcrumb, Value};
///
/// let mut crumb = Breadcrumb::default();
/// crumb.message = Some("sms to +44 7700 900123".into());
/// crumb.data.insert("cookie".into(), Value::from("session=abc"));
/// let crumb = scrub_breadcrumb(crumb);
/// assert_eq!(crumb.message.as_deref(), Some("sms to [phone]"));
/// assert_eq!(crumb.data["cookie"], "[Filtered]");
/// ```
pub fn scrub_breadcrumb(mut crumb: Breadcrumb) -> Breadcrumb {
    scrub_breadcrumb_in_place(&mut crumb);
    crumb
}

fn scrub_breadcrumb_in_place(crumb: &mut Breadcrumb) {
    scrub_opt(&mut crumb.message);
    scrub_map(&mut crumb.data);
}

pub(crate) fn scrub_request(request: &mut Request) {
    request.cookies = None;
    request.headers.retain(|name, _| {
        !is_sensitive_key(name)
            && !SENSITIVE_HEADERS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
    });
    request.headers.values_mut().for_each(scrub_string);
    request.env.values_mut().for_each(scrub_string);
    scrub_opt(&mut request.data);
    if let Some(query) = request.query_string.as_mut() {
        if let Cow::Owned(new) = scrub_query(query) {
            *query = new;
        }
    }
    if let Some(url) = request.url.as_mut() {
        if !url.username().is_empty() {
            let _ = url.set_username(FILTERED);
        }
        if url.password().is_some() {
            let _ = url.set_password(Some(FILTERED));
        }
        let path = percent_encoding::percent_decode_str(url.path()).decode_utf8_lossy();
        if let Cow::Owned(new) = scrub_text(&path) {
            url.set_path(&new);
        }
        if let Some(Cow::Owned(new)) = url.query().map(scrub_query) {
            url.set_query(Some(&new));
        }
        if let Some(Cow::Owned(new)) = url.fragment().map(scrub_text) {
            url.set_fragment(Some(&new));
        }
    }
}

fn scrub_frame(frame: &mut Frame) {
    scrub_map(&mut frame.vars);
}

fn scrub_map(map: &mut Map<String, Value>) {
    for (key, value) in map.iter_mut() {
        if is_sensitive_key(key) {
            *value = Value::from(FILTERED);
        } else {
            scrub_value(value);
        }
    }
}

/// Scrubs every string in a JSON value; an object's member named like a
/// secret is replaced whole.
fn scrub_value(value: &mut Value) {
    match value {
        Value::String(text) => scrub_string(text),
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_sensitive_key(key) {
                    *value = Value::from(FILTERED);
                } else {
                    scrub_value(value);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn scrub_string(text: &mut String) {
    if let Cow::Owned(new) = scrub_text(text) {
        *text = new;
    }
}

fn scrub_opt(text: &mut Option<String>) {
    if let Some(text) = text.as_mut() {
        scrub_string(text);
    }
}
