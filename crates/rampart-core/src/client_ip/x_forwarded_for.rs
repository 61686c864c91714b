//! `X-Forwarded-For`, read from the right.
//!
//! The de facto format: a comma-separated list of addresses, each proxy
//! appending the address it received the request from. Several header lines
//! are one list, in order. Entries are trimmed of spaces and tabs; an entry may
//! carry a port (`192.0.2.1:5678`, `[2001:db8::1]:5678`) or be a bare IPv6
//! address. An empty entry (`a,,b`, a trailing comma) is malformed: a proxy
//! never writes one.

use http::{
    HeaderMap,
    header::{HeaderName, HeaderValue, ValueIter},
};

use super::hop::{Hop, parse_node};

/// The hops of every `X-Forwarded-For` line, rightmost first, without
/// allocating: lines are walked backwards and each is cut at its last comma.
pub(crate) struct XForwardedForHops<'a> {
    lines: std::iter::Rev<ValueIter<'a, HeaderValue>>,
    /// What is left of the current line, left of the entries already read.
    rest: Option<&'a [u8]>,
}

impl<'a> XForwardedForHops<'a> {
    pub(crate) fn new(headers: &'a HeaderMap) -> Self {
        Self {
            lines: headers.get_all(X_FORWARDED_FOR).iter().rev(),
            rest: None,
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Trims optional whitespace (`OWS`, RFC 9110 §5.6.3). A header value holds no
/// control character but HTAB, so ASCII whitespace is exactly SP and HTAB here.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

impl Iterator for XForwardedForHops<'_> {
    type Item = Hop;

    fn next(&mut self) -> Option<Hop> {
        loop {
            if let Some(rest) = self.rest {
                let entry = if let Some(comma) = rest.iter().rposition(|&b| b == b',') {
                    self.rest = Some(&rest[..comma]);
                    &rest[comma + 1..]
                } else {
                    self.rest = None;
                    rest
                };
                return Some(parse_node(trim_ows(entry)));
            }
            self.rest = Some(self.lines.next()?.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hops(lines: &[&[u8]]) -> Vec<Hop> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_bytes(line).expect("a valid header value"),
            );
        }
        XForwardedForHops::new(&headers).collect()
    }

    fn ip(s: &str) -> Hop {
        Hop::Ip(s.parse().unwrap())
    }

    #[test]
    fn rightmost_first() {
        assert_eq!(
            hops(&[b"203.0.113.7, 10.0.0.2,10.0.0.3"]),
            [ip("10.0.0.3"), ip("10.0.0.2"), ip("203.0.113.7")]
        );
    }

    #[test]
    fn lines_are_one_list_in_order() {
        assert_eq!(
            hops(&[
                b"203.0.113.7, 10.0.0.1",
                b"10.0.0.2",
                b"10.0.0.3 ,\t10.0.0.4"
            ]),
            [
                ip("10.0.0.4"),
                ip("10.0.0.3"),
                ip("10.0.0.2"),
                ip("10.0.0.1"),
                ip("203.0.113.7")
            ]
        );
    }

    #[test]
    fn ports_ipv6_and_mapped() {
        assert_eq!(
            hops(&[b"192.0.2.1:5678, [2001:db8::1]:443, 2001:db8::2, [::1], ::ffff:10.0.0.1"]),
            [
                ip("10.0.0.1"),
                ip("::1"),
                ip("2001:db8::2"),
                ip("2001:db8::1"),
                ip("192.0.2.1")
            ]
        );
    }

    #[test]
    fn empty_entries_and_words() {
        assert_eq!(hops(&[b""]), [Hop::Malformed]);
        assert_eq!(hops(&[b" "]), [Hop::Malformed]);
        assert_eq!(hops(&[b",,"]), [Hop::Malformed; 3]);
        assert_eq!(hops(&[b"1.2.3.4,"]), [Hop::Malformed, ip("1.2.3.4")]);
        assert_eq!(
            hops(&[b"unknown, _hidden, nonsense"]),
            [Hop::Malformed, Hop::Obfuscated, Hop::Unknown]
        );
        assert_eq!(
            hops(&[b"\xff\xfe, 1.2.3.4"]),
            [ip("1.2.3.4"), Hop::Malformed]
        );
        assert_eq!(hops(&[b"fe80::1%eth0"]), [Hop::Malformed]);
        assert!(hops(&[]).is_empty());
    }
}
