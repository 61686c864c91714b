//! Query strings: secrets by parameter name, personal data by value.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::{keys::is_sensitive_key, text::FILTERED, text::scrub_text};

/// What stays unencoded when a scrubbed value is written back: RFC 3986
/// unreserved characters and the brackets of the masks.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'[')
    .remove(b']');

/// Scrubs a query string (without the `?`): the value of a parameter named
/// like a secret ([`is_sensitive_key`](super::is_sensitive_key)) becomes
/// `[Filtered]`; emails and phone numbers in names and values, encoded or
/// not, are masked. Parameters nothing was found in keep their bytes.
///
/// # Example
///
/// ```
/// use rampart_sentry::scrub::scrub_query;
///
/// assert_eq!(
///     scrub_query("page=2&email=alice%40example.com&access_token=abc"),
///     "page=2&email=[email]&access_token=[Filtered]"
/// );
/// assert_eq!(scrub_query("q=r%C3%BCckruf&page=2"), "q=r%C3%BCckruf&page=2");
/// ```
pub fn scrub_query(query: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut at = 0;
    for pair in query.split('&') {
        let end = at + pair.len();
        let scrubbed = scrub_pair(pair);
        if let Cow::Owned(new) = scrubbed {
            let buf = out.get_or_insert_with(|| query[..at].to_owned());
            buf.push_str(&new);
        } else if let Some(buf) = out.as_mut() {
            buf.push_str(pair);
        }
        if end < query.len() {
            if let Some(buf) = out.as_mut() {
                buf.push('&');
            }
        }
        at = end + 1;
    }
    match out {
        Some(out) => Cow::Owned(out),
        None => Cow::Borrowed(query),
    }
}

fn scrub_pair(pair: &str) -> Cow<'_, str> {
    let (key, value) = match pair.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (pair, None),
    };
    let decoded_key = percent_decode_str(key).decode_utf8_lossy();
    if value.is_some() && is_sensitive_key(&decoded_key) {
        return Cow::Owned(format!("{key}={FILTERED}"));
    }
    let new_key = scrub_component(key, &decoded_key);
    let new_value = value.map(|value| {
        let decoded = percent_decode_str(value).decode_utf8_lossy();
        scrub_component(value, &decoded)
    });
    let changed = matches!(new_key, Cow::Owned(_)) || matches!(new_value, Some(Cow::Owned(_)));
    if !changed {
        return Cow::Borrowed(pair);
    }
    Cow::Owned(match new_value {
        Some(value) => format!("{new_key}={value}"),
        None => new_key.into_owned(),
    })
}

/// The raw component if nothing is found in it (raw and decoded), else the
/// scrubbed decoded text, encoded again.
fn scrub_component<'a>(raw: &'a str, decoded: &str) -> Cow<'a, str> {
    let from_raw = scrub_text(raw);
    let from_decoded = scrub_text(decoded);
    match (from_raw, from_decoded) {
        (Cow::Borrowed(_), Cow::Borrowed(_)) => Cow::Borrowed(raw),
        (_, scrubbed) => Cow::Owned(utf8_percent_encode(&scrubbed, VALUE).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_keeps() {
        for (input, want) in [
            ("", ""),
            ("a=1&b=2", "a=1&b=2"),
            ("a&&b=", "a&&b="),
            ("password=x", "password=[Filtered]"),
            ("Api-Key=x&a=1", "Api-Key=[Filtered]&a=1"),
            ("to=alice@example.com", "to=[email]"),
            ("phone=%2B49%2030%201234567&a=b", "phone=[phone]&a=b"),
            ("phone=+4930123456", "phone=[phone]"),
            ("alice%40example.com", "[email]"),
            ("a=1&to=bob%40example.org&z=%ZZ", "a=1&to=[email]&z=%ZZ"),
        ] {
            assert_eq!(scrub_query(input), want, "{input}");
        }
    }
}
