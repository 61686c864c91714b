//! `Forwarded` ([RFC 7239]), read from the right.
//!
//! `Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]:4711"`
//! is a list of elements separated by `,`; an element is pairs separated by
//! `;`; a pair is `token=value`, the value a token or a quoted string with
//! `\`-escapes. Several header lines are one list, in order. Of each element
//! we read the `for` parameter (case-insensitive), the node the proxy received
//! the request from.
//!
//! Elements are split off from the *right* end of each line, honouring quoted
//! strings: the part a trusted proxy appended is read the same whatever a
//! client put to its left (an unbalanced quote on the left cannot swallow the
//! proxy's element, as it would in a parser that starts from the left). Each
//! element is then parsed from its start. Nothing is allocated: a quoted `for`
//! value is unescaped into a small buffer on the stack.
//!
//! Lenient where a proxy's output is unambiguous: whitespace around `;`, `=`
//! and `,`; an unquoted value with `:` or brackets (`for=192.0.2.1:80`); a
//! bare IPv6 address. Malformed (so the resolver falls back to the peer): an
//! element without `for` or with two, an empty element, a bad pair, an
//! unbalanced quote, a node that is not an address, `unknown` or `_obfuscated`.
//!
//! [RFC 7239]: https://www.rfc-editor.org/rfc/rfc7239

use http::{
    HeaderMap,
    header::{FORWARDED, HeaderValue, ValueIter},
};

use super::{
    hop::{Hop, parse_node},
    x_forwarded_for::trim_ows,
};

/// The `for` hops of every `Forwarded` line, rightmost first.
pub(crate) struct ForwardedHops<'a> {
    lines: std::iter::Rev<ValueIter<'a, HeaderValue>>,
    /// What is left of the current line, left of the elements already read.
    rest: Option<&'a [u8]>,
    /// An unbalanced quote was met: nothing to its left can be split reliably.
    broken: bool,
}

impl<'a> ForwardedHops<'a> {
    pub(crate) fn new(headers: &'a HeaderMap) -> Self {
        Self {
            lines: headers.get_all(FORWARDED).iter().rev(),
            rest: None,
            broken: false,
        }
    }
}

impl Iterator for ForwardedHops<'_> {
    type Item = Hop;

    fn next(&mut self) -> Option<Hop> {
        if self.broken {
            return None;
        }
        loop {
            if let Some(rest) = self.rest {
                return Some(if let Some((left, element)) = split_last_element(rest) {
                    self.rest = left;
                    parse_element(element)
                } else {
                    self.broken = true;
                    Hop::Malformed
                });
            }
            self.rest = Some(self.lines.next()?.as_bytes());
        }
    }
}

/// Splits off the last element at the rightmost `,` outside a quoted string:
/// `(what is left of it, if anything; the element)`. `None` on an unbalanced
/// quote.
fn split_last_element(bytes: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b',' => return Some((Some(&bytes[..i]), &bytes[i + 1..])),
            b'"' => {
                // Outside a string a backslash escapes nothing, so a quote
                // after an odd run of them is an escaped quote inside a
                // string that never closes.
                if escaped(bytes, i) {
                    return None;
                }
                loop {
                    i = i.checked_sub(1)?;
                    if bytes[i] == b'"' && !escaped(bytes, i) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    Some((None, bytes))
}

/// Whether the byte at `at` follows an odd run of backslashes. Within a
/// quoted string a backslash escapes the next byte whatever it is, and the
/// byte before a maximal run is no backslash, so the run's parity tells.
fn escaped(bytes: &[u8], at: usize) -> bool {
    bytes[..at]
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count()
        % 2
        == 1
}

/// The `for` node of one element.
fn parse_element(element: &[u8]) -> Hop {
    let mut found = None;
    let mut rest = trim_ows(element);
    loop {
        // Empty pairs (`;;`) are allowed by the grammar.
        while let Some(after) = rest.strip_prefix(b";") {
            rest = trim_ows(after);
        }
        if rest.is_empty() {
            break;
        }
        let Some((name, value, after)) = parse_pair(rest) else {
            return Hop::Malformed;
        };
        if name.eq_ignore_ascii_case(b"for") {
            if found.is_some() {
                // RFC 7239 §4: a parameter occurs at most once per element.
                return Hop::Malformed;
            }
            found = Some(match value {
                Value::Token(node) => parse_node(node),
                Value::Quoted(escaped) => parse_quoted_node(escaped),
            });
        }
        rest = after;
    }
    found.unwrap_or(Hop::Malformed)
}

enum Value<'a> {
    Token(&'a [u8]),
    /// The content between the quotes, escapes still in.
    Quoted(&'a [u8]),
}

/// One `name=value`, then OWS and `;` or the end. Returns the name, the value
/// and what follows the `;`.
fn parse_pair(input: &[u8]) -> Option<(&[u8], Value<'_>, &[u8])> {
    let eq = input.iter().position(|&b| b == b'=')?;
    let name = trim_ows(&input[..eq]);
    if name.is_empty() || !name.iter().all(|&b| tchar(b)) {
        return None;
    }
    let input = trim_ows(&input[eq + 1..]);
    let (value, after) = if let Some(quoted) = input.strip_prefix(b"\"") {
        let end = closing_quote(quoted)?;
        (Value::Quoted(&quoted[..end]), &quoted[end + 1..])
    } else {
        let end = input
            .iter()
            .position(|&b| !unquoted_char(b))
            .unwrap_or(input.len());
        if end == 0 {
            return None;
        }
        (Value::Token(&input[..end]), &input[end..])
    };
    let after = trim_ows(after);
    match after {
        [] => Some((name, value, after)),
        [b';', more @ ..] => Some((name, value, trim_ows(more))),
        _ => None,
    }
}

/// Index of the quote that ends a string whose opening quote is already
/// consumed.
fn closing_quote(quoted: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < quoted.len() {
        match quoted[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Unescapes a quoted node into a stack buffer and parses it. The longest
/// node, `[` + 45 bytes of IPv6 + `]:` + 5 digits, fits in 64 bytes; a longer
/// one is no node.
fn parse_quoted_node(escaped: &[u8]) -> Hop {
    if !escaped.contains(&b'\\') {
        return parse_node(escaped);
    }
    let mut buf = [0u8; 64];
    let mut len = 0;
    let mut bytes = escaped.iter();
    while let Some(&b) = bytes.next() {
        let b = if b == b'\\' {
            match bytes.next() {
                Some(&next) => next,
                None => return Hop::Malformed,
            }
        } else {
            b
        };
        let Some(slot) = buf.get_mut(len) else {
            return Hop::Malformed;
        };
        *slot = b;
        len += 1;
    }
    parse_node(&buf[..len])
}

/// `tchar` (RFC 9110 §5.6.2).
fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A `tchar`, or what proxies write unquoted although the grammar wants
/// quotes (`:`, `[`, `]`, `/`, ...): visible ASCII but the delimiters.
fn unquoted_char(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hops(lines: &[&[u8]]) -> Vec<Hop> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                FORWARDED,
                HeaderValue::from_bytes(line).expect("a valid header value"),
            );
        }
        ForwardedHops::new(&headers).collect()
    }

    fn ip(s: &str) -> Hop {
        Hop::Ip(s.parse().unwrap())
    }

    #[test]
    fn rfc_7239_examples() {
        // §4 and §7.1 of the RFC.
        assert_eq!(hops(&[br#"for="_gazonk""#]), [Hop::Obfuscated]);
        assert_eq!(
            hops(&[br#"For="[2001:db8:cafe::17]:4711""#]),
            [ip("2001:db8:cafe::17")]
        );
        assert_eq!(
            hops(&[b"for=192.0.2.60;proto=http;by=203.0.113.43"]),
            [ip("192.0.2.60")]
        );
        assert_eq!(
            hops(&[b"for=192.0.2.43, for=198.51.100.17"]),
            [ip("198.51.100.17"), ip("192.0.2.43")]
        );
        assert_eq!(
            hops(&[br#"for=192.0.2.43,for="[2001:db8:cafe::17]",for=unknown"#]),
            [Hop::Unknown, ip("2001:db8:cafe::17"), ip("192.0.2.43")]
        );
    }

    #[test]
    fn lines_are_one_list_in_order() {
        assert_eq!(
            hops(&[
                b"for=192.0.2.43",
                b"for=10.0.0.1, for=10.0.0.2",
                b"for=10.0.0.3"
            ]),
            [
                ip("10.0.0.3"),
                ip("10.0.0.2"),
                ip("10.0.0.1"),
                ip("192.0.2.43")
            ]
        );
    }

    #[test]
    fn parameter_names_are_case_insensitive_and_order_free() {
        assert_eq!(
            hops(&[b"proto=https;FOR=192.0.2.1;By=10.0.0.1"]),
            [ip("192.0.2.1")]
        );
        assert_eq!(hops(&[b"fOr=192.0.2.1"]), [ip("192.0.2.1")]);
    }

    #[test]
    fn whitespace_and_empty_pairs() {
        assert_eq!(
            hops(&[b"  for = 192.0.2.1 ; proto=https ;; ,\tfor=\"10.0.0.1:80\"\t"]),
            [ip("10.0.0.1"), ip("192.0.2.1")]
        );
        assert_eq!(hops(&[b";for=192.0.2.1;"]), [ip("192.0.2.1")]);
    }

    #[test]
    fn quoted_values_and_escapes() {
        assert_eq!(hops(&[br#"for="192.0.2.1""#]), [ip("192.0.2.1")]);
        assert_eq!(hops(&[br#"for="1\92.0.2.1""#]), [ip("192.0.2.1")]);
        assert_eq!(hops(&[br#"for="\[::1\]:80""#]), [ip("::1")]);
        // A quoted comma or semicolon in another parameter does not split.
        assert_eq!(
            hops(&[br#"for=192.0.2.1;host="a,b;c", for=10.0.0.1;x="\",""#]),
            [ip("10.0.0.1"), ip("192.0.2.1")]
        );
        assert_eq!(
            hops(&[br#"x="\\", for=10.0.0.1"#]),
            [ip("10.0.0.1"), Hop::Malformed]
        );
        assert_eq!(hops(&[br#"for="\"1.2.3.4""#]), [Hop::Malformed]);
        assert_eq!(hops(&[br#"for="1.2.3.4\""#]), [Hop::Malformed]);
        assert_eq!(hops(&[br#"for="1.2.3.4\"#]), [Hop::Malformed]);
    }

    #[test]
    fn unquoted_ports_and_ipv6_are_accepted() {
        assert_eq!(hops(&[b"for=192.0.2.1:8080"]), [ip("192.0.2.1")]);
        assert_eq!(hops(&[b"for=[2001:db8::1]:443"]), [ip("2001:db8::1")]);
        assert_eq!(hops(&[b"for=2001:db8::1"]), [ip("2001:db8::1")]);
        assert_eq!(hops(&[b"for=\"::ffff:10.0.0.9\""]), [ip("10.0.0.9")]);
    }

    #[test]
    fn malformed_elements() {
        for line in [
            &b""[..],
            b" ",
            b"proto=https",
            b"for=1.2.3.4;for=1.2.3.4",
            b"for=",
            b"for=\"\"",
            b"=1.2.3.4",
            b"f r=1.2.3.4",
            b"for",
            b"for 1.2.3.4",
            b"for=1.2.3.4 5.6.7.8",
            b"for=1.2.3.4\"x\"",
            b"for=\"1.2.3.4\"x",
            b"for=\"1.2.3.4\" ;x",
            b"for=\xff",
            b"for=\"\xff\"",
            b"for=\"[fe80::1%eth0]\"",
            b"for=1.2.3.4;proto=",
            b"for=example.com",
        ] {
            assert_eq!(
                hops(&[line]),
                [Hop::Malformed],
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn empty_elements_are_malformed() {
        assert_eq!(hops(&[b","]), [Hop::Malformed, Hop::Malformed]);
        assert_eq!(hops(&[b"for=1.2.3.4,"]), [Hop::Malformed, ip("1.2.3.4")]);
    }

    #[test]
    fn unbalanced_quotes_stop_the_walk_but_not_before_the_right_end() {
        // What a proxy appended to a client's broken header still reads.
        assert_eq!(
            hops(&[br#"for="1.2.3.4, for=10.0.0.1"#]),
            [ip("10.0.0.1"), Hop::Malformed]
        );
        assert_eq!(
            hops(&[br#"for=", for=10.0.0.1"#]),
            [ip("10.0.0.1"), Hop::Malformed]
        );
        assert_eq!(hops(&[br#"for=1.2.3.4""#]), [Hop::Malformed]);
        assert_eq!(hops(&[b"\""]), [Hop::Malformed]);
        // The walk does not go on past a break, into earlier lines either.
        assert_eq!(hops(&[b"for=10.0.0.9", b"for=1.2.3.4\""]), [Hop::Malformed]);
    }

    #[test]
    fn long_quoted_values_are_not_nodes() {
        let mut long = b"for=\"".to_vec();
        long.extend(std::iter::repeat_n(b'1', 200));
        long.push(b'"');
        assert_eq!(hops(&[&long]), [Hop::Malformed]);
        // But a long value of another parameter is fine.
        let mut other = b"for=1.2.3.4;host=\"".to_vec();
        other.extend(std::iter::repeat_n(b'a', 10_000));
        other.push(b'"');
        assert_eq!(hops(&[&other]), [ip("1.2.3.4")]);
    }

    #[test]
    fn split_honours_escapes() {
        assert_eq!(
            split_last_element(b"a,b"),
            Some((Some(&b"a"[..]), &b"b"[..]))
        );
        assert_eq!(
            split_last_element(br#"a,"x\",y""#),
            Some((Some(&b"a"[..]), &br#""x\",y""#[..]))
        );
        assert_eq!(
            split_last_element(br#"a,"x\\",y"#),
            Some((Some(&br#"a,"x\\""#[..]), &b"y"[..]))
        );
        assert_eq!(split_last_element(br#"x\""#), None);
        assert_eq!(split_last_element(b"ab"), Some((None, &b"ab"[..])));
    }
}
