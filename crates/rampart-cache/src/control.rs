//! `Cache-Control` ([RFC 9111 §5.2]) with the [RFC 5861] extensions.
//!
//! Written by hand: the typed header of the `headers` crate drops the
//! directives it does not know, `stale-while-revalidate` and
//! `stale-if-error` among them, and cannot say that a header was malformed
//! (which must make a response uncacheable rather than cacheable with the
//! directives that happened to parse). The grammar is small:
//! `#( token [ "=" ( token / quoted-string ) ] )`.
//!
//! [RFC 9111 §5.2]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2
//! [RFC 5861]: https://www.rfc-editor.org/rfc/rfc5861

use std::fmt;

use http::HeaderMap;

/// The directives of `Cache-Control` this crate acts on.
///
/// # Example
///
/// ```
/// use rampart_cache::CacheControl;
///
/// let cc = CacheControl::parse("public, max-age=60, stale-while-revalidate=\"30\"");
/// assert!(cc.public && !cc.malformed);
/// assert_eq!(cc.max_age, Some(60));
/// assert_eq!(cc.stale_while_revalidate, Some(30));
///
/// let bad = CacheControl::parse("max-age=soon, no-store");
/// assert!(bad.malformed && bad.no_store);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheControl {
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (with or without a field list).
    pub no_cache: bool,
    /// `private` (with or without a field list).
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `max-age`, in seconds.
    pub max_age: Option<u64>,
    /// `s-maxage`, in seconds.
    pub s_maxage: Option<u64>,
    /// `stale-while-revalidate`, in seconds.
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error`, in seconds.
    pub stale_if_error: Option<u64>,
    /// Something did not follow the grammar, or a known directive had a bad
    /// value. What did parse is still set.
    pub malformed: bool,
}

/// Delta-seconds above this are taken as this ([RFC 9111 §1.2.2]: 2^31).
const DELTA_MAX: u64 = 1 << 31;

impl CacheControl {
    /// Every `Cache-Control` field of `headers`, as one list; an empty
    /// value when there is none. A value that is not visible ASCII is
    /// malformed.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        for value in headers.get_all(http::header::CACHE_CONTROL) {
            match value.to_str() {
                Ok(value) => cc.parse_into(value),
                Err(_) => cc.malformed = true,
            }
        }
        cc
    }

    /// Parses one field value. Never fails: what does not parse sets
    /// [`malformed`](Self::malformed) and parsing goes on after the next comma.
    pub fn parse(value: &str) -> Self {
        let mut cc = Self::default();
        cc.parse_into(value);
        cc
    }

    fn parse_into(&mut self, value: &str) {
        let mut rest = value.as_bytes();
        loop {
            rest = skip_ows_commas(rest);
            if rest.is_empty() {
                return;
            }
            let name_len = rest.iter().take_while(|b| is_tchar(**b)).count();
            if name_len == 0 {
                self.malformed = true;
                rest = skip_past_comma(rest);
                continue;
            }
            let (name, after) = rest.split_at(name_len);
            rest = skip_ows(after);
            let mut arg: Option<Vec<u8>> = None;
            if let Some((b'=', after)) = rest.split_first() {
                let after = skip_ows(after);
                if let Some((value, after)) = parse_value(after) {
                    arg = Some(value);
                    rest = after;
                } else {
                    self.malformed = true;
                    rest = skip_past_comma(after);
                    continue;
                }
            }
            rest = skip_ows(rest);
            if !rest.is_empty() && rest[0] != b',' {
                self.malformed = true;
                rest = skip_past_comma(rest);
            }
            self.apply(name, arg.as_deref());
        }
    }

    fn apply(&mut self, name: &[u8], arg: Option<&[u8]>) {
        let seconds = |malformed: &mut bool| {
            if let Some(secs) = arg.and_then(delta_seconds) {
                Some(secs)
            } else {
                *malformed = true;
                None
            }
        };
        let lower = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        if lower("no-store") {
            self.no_store = true;
        } else if lower("no-cache") {
            self.no_cache = true;
        } else if lower("private") {
            self.private = true;
        } else if lower("public") {
            self.public = true;
        } else if lower("must-revalidate") {
            self.must_revalidate = true;
        } else if lower("max-age") {
            self.max_age = seconds(&mut self.malformed).or(self.max_age);
        } else if lower("s-maxage") {
            self.s_maxage = seconds(&mut self.malformed).or(self.s_maxage);
        } else if lower("stale-while-revalidate") {
            self.stale_while_revalidate =
                seconds(&mut self.malformed).or(self.stale_while_revalidate);
        } else if lower("stale-if-error") {
            self.stale_if_error = seconds(&mut self.malformed).or(self.stale_if_error);
        }
        // Other directives are ignored, as RFC 9111 §5.2.3 says.
    }
}

/// The directives read, in a canonical form (what parses back to them):
/// flags first, then the values, comma-separated; nothing for an empty set.
///
/// ```
/// use rampart_cache::CacheControl;
///
/// let cc = CacheControl::parse("MAX-AGE=\"60\", junk, no-store");
/// assert_eq!(cc.to_string(), "no-store, max-age=60");
/// ```
impl fmt::Display for CacheControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = [
            (self.no_store, "no-store"),
            (self.no_cache, "no-cache"),
            (self.private, "private"),
            (self.public, "public"),
            (self.must_revalidate, "must-revalidate"),
        ];
        let values = [
            (self.max_age, "max-age"),
            (self.s_maxage, "s-maxage"),
            (self.stale_while_revalidate, "stale-while-revalidate"),
            (self.stale_if_error, "stale-if-error"),
        ];
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { ", " };
            first = false;
            f.write_str(s)
        };
        for (on, name) in flags {
            if on {
                sep(f)?;
                f.write_str(name)?;
            }
        }
        for (value, name) in values {
            if let Some(value) = value {
                sep(f)?;
                write!(f, "{name}={value}")?;
            }
        }
        Ok(())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn skip_ows(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    &s[n..]
}

fn skip_ows_commas(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b','))
        .count();
    &s[n..]
}

fn skip_past_comma(s: &[u8]) -> &[u8] {
    match s.iter().position(|b| *b == b',') {
        Some(i) => &s[i + 1..],
        None => &[],
    }
}

/// A token or a quoted-string (unescaped), and what follows it.
fn parse_value(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    if let Some((b'"', mut rest)) = s.split_first() {
        let mut value = Vec::new();
        loop {
            match rest.split_first()? {
                (b'"', after) => return Some((value, after)),
                (b'\\', after) => {
                    let (escaped, after) = after.split_first()?;
                    value.push(*escaped);
                    rest = after;
                }
                (byte, after) => {
                    value.push(*byte);
                    rest = after;
                }
            }
        }
    }
    let len = s.iter().take_while(|b| is_tchar(**b)).count();
    (len > 0).then(|| (s[..len].to_vec(), &s[len..]))
}

fn delta_seconds(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for digit in arg {
        value = value
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'));
    }
    Some(value.min(DELTA_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_and_values() {
        let cc = CacheControl::parse(
            "No-Cache, PRIVATE=\"set-cookie, x\", max-age=0 , s-maxage=99999999999999999999999",
        );
        assert!(cc.no_cache && cc.private && !cc.malformed);
        assert_eq!(cc.max_age, Some(0));
        assert_eq!(cc.s_maxage, Some(DELTA_MAX));
    }

    #[test]
    fn malformed_input_is_flagged_not_fatal() {
        for input in [
            "max-age",
            "max-age=",
            "max-age=-1",
            "=5",
            "no-store junk",
            "max-age=\"1",
            "\u{7f}",
            "stale-if-error=1.5",
        ] {
            assert!(CacheControl::parse(input).malformed, "{input:?}");
        }
        assert!(CacheControl::parse("max-age=\"1, no-store").malformed);
        assert!(CacheControl::parse("junk junk, no-store").no_store);
        assert!(!CacheControl::parse("").malformed);
        assert!(!CacheControl::parse(" , ,").malformed);
        assert!(!CacheControl::parse("community=\"UCI\"").malformed);
    }
}
