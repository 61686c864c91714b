//! One hop of a forwarding header: the node a proxy recorded as its client.
//!
//! Hand-written rather than taken from a crate: the crates that parse
//! `Forwarded` (`forwarded-header-value`, `http-types`) parse the whole value
//! from the left into a `Vec`, which makes the client-controlled part of the
//! header decide how the proxies' part is read and allocates on every
//! request. What we need is a node parser over bytes, run on the few hops a
//! walk from the right looks at.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a proxy wrote about the node it received the request from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hop {
    /// An address, port dropped, IPv4-mapped IPv6 as IPv4.
    Ip(IpAddr),
    /// `unknown`: the proxy did not know (RFC 7239 §6.2).
    Unknown,
    /// An obfuscated identifier such as `_hidden` (RFC 7239 §6.3).
    Obfuscated,
    /// Anything else: not a node the grammar allows.
    Malformed,
}

/// Parses a node (RFC 7239 §6): `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`,
/// `[2001:db8::1]:8080`, `unknown`, `_obfuscated`, each optionally with an
/// obfuscated port (`:_p1`). A bare IPv6 address (`2001:db8::1`) is accepted
/// too, as `X-Forwarded-For` writes it and as some proxies write it in
/// `Forwarded` although RFC 7239 asks for brackets: it cannot be misread, an
/// address with two or more colons has no port.
///
/// Zone identifiers (`fe80::1%eth0`), leading zeros (`010.0.0.1`), IPv4 in
/// brackets and stray characters are [`Hop::Malformed`].
pub(crate) fn parse_node(node: &[u8]) -> Hop {
    // What X-Forwarded-For holds nearly always.
    if let Some(ip) = parse_ipv4(node) {
        return Hop::Ip(IpAddr::V4(ip));
    }
    let Some((name, port)) = split_port(node) else {
        return Hop::Malformed;
    };
    if let Some(port) = port {
        if !valid_port(port) {
            return Hop::Malformed;
        }
    }
    if let Some(inner) = name.strip_prefix(b"[").and_then(|n| n.strip_suffix(b"]")) {
        return parse_ascii::<Ipv6Addr>(inner).map_or(Hop::Malformed, |ip| Hop::Ip(v6(ip)));
    }
    if name.eq_ignore_ascii_case(b"unknown") {
        return Hop::Unknown;
    }
    if let Some(rest) = name.strip_prefix(b"_") {
        return if !rest.is_empty() && rest.iter().all(|&b| obfuscated_char(b)) {
            Hop::Obfuscated
        } else {
            Hop::Malformed
        };
    }
    if port.is_none() && name.contains(&b':') {
        return parse_ascii::<Ipv6Addr>(name).map_or(Hop::Malformed, |ip| Hop::Ip(v6(ip)));
    }
    parse_ipv4(name).map_or(Hop::Malformed, |ip| Hop::Ip(IpAddr::V4(ip)))
}

/// A dotted-quad IPv4 address, as `Ipv4Addr::from_str` reads it (four
/// decimal octets, no leading zeros, no signs), straight from bytes: the
/// std parser needs a `&str`, and checking UTF-8 first costs as much as the
/// parse. `ipv4_parser_agrees_with_std` holds the two together.
fn parse_ipv4(bytes: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut index = 0;
    let mut value: u16 = 0;
    let mut digits = 0;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                if digits == 1 && value == 0 {
                    return None;
                }
                value = value * 10 + u16::from(b - b'0');
                digits += 1;
                if value > 255 {
                    return None;
                }
            }
            b'.' if digits > 0 && index < 3 => {
                octets[index] = value as u8;
                index += 1;
                value = 0;
                digits = 0;
            }
            _ => return None,
        }
    }
    if index != 3 || digits == 0 {
        return None;
    }
    octets[3] = value as u8;
    Some(Ipv4Addr::from(octets))
}

/// Splits `name[:port]`. `None` when brackets do not close.
fn split_port(node: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    if node.first() == Some(&b'[') {
        let close = node.iter().position(|&b| b == b']')?;
        let (name, rest) = node.split_at(close + 1);
        return match rest {
            [] => Some((name, None)),
            [b':', port @ ..] => Some((name, Some(port))),
            _ => None,
        };
    }
    match node.iter().position(|&b| b == b':') {
        Some(at) if !node[at + 1..].contains(&b':') => Some((&node[..at], Some(&node[at + 1..]))),
        // No colon, or a bare IPv6 address: no port.
        _ => Some((node, None)),
    }
}

/// `1*5DIGIT` within the range of a port, or an obfuscated port `_x`.
fn valid_port(port: &[u8]) -> bool {
    match port {
        [b'_', rest @ ..] => !rest.is_empty() && rest.iter().all(|&b| obfuscated_char(b)),
        digits if (1..=5).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) => {
            digits
                .iter()
                .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
                <= u32::from(u16::MAX)
        }
        _ => false,
    }
}

/// `ALPHA / DIGIT / "." / "_" / "-"` (RFC 7239 §6.3).
fn obfuscated_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

fn parse_ascii<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    // The std parsers refuse zone ids, leading zeros and signs; an address
    // is at most 45 bytes, so a longer input is refused before UTF-8 checks.
    if bytes.is_empty() || bytes.len() > 45 {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn v6(ip: Ipv6Addr) -> IpAddr {
    crate::normalize_ip(IpAddr::V6(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Hop {
        Hop::Ip(s.parse().unwrap())
    }

    #[test]
    fn addresses_with_and_without_ports() {
        let cases = [
            ("192.0.2.60", ip("192.0.2.60")),
            ("192.0.2.60:4711", ip("192.0.2.60")),
            ("192.0.2.60:_p1", ip("192.0.2.60")),
            ("[2001:db8:cafe::17]", ip("2001:db8:cafe::17")),
            ("[2001:db8:cafe::17]:4711", ip("2001:db8:cafe::17")),
            ("[2001:db8:cafe::17]:_x.y", ip("2001:db8:cafe::17")),
            ("2001:db8:cafe::17", ip("2001:db8:cafe::17")),
            ("::1", ip("::1")),
            ("[::ffff:192.0.2.1]:80", ip("192.0.2.1")),
            ("::ffff:192.0.2.1", ip("192.0.2.1")),
            ("1.2.3.4:0", ip("1.2.3.4")),
            ("1.2.3.4:65535", ip("1.2.3.4")),
        ];
        for (node, want) in cases {
            assert_eq!(parse_node(node.as_bytes()), want, "{node}");
        }
    }

    proptest::proptest! {
        #[test]
        fn ipv4_parser_agrees_with_std(
            text in "[0-9.]{0,20}|[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,4}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
        ) {
            let std = |b: &[u8]| std::str::from_utf8(b).ok().and_then(|s| s.parse::<Ipv4Addr>().ok());
            proptest::prop_assert_eq!(parse_ipv4(text.as_bytes()), std(text.as_bytes()), "{}", text);
            proptest::prop_assert_eq!(parse_ipv4(&bytes), std(&bytes));
        }
    }

    #[test]
    fn ipv4_parser_edges() {
        for good in [
            "0.0.0.0",
            "255.255.255.255",
            "1.2.3.4",
            "10.0.0.1",
            "100.200.250.0",
        ] {
            assert_eq!(
                parse_ipv4(good.as_bytes()),
                Some(good.parse().unwrap()),
                "{good}"
            );
        }
        for bad in [
            "",
            ".",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "1..2.3",
            "256.0.0.0",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3.00",
            "1.2.3.4.5",
            "1000.1.1.1",
            "+1.2.3.4",
            "1.2.3.4 ",
            "0x1.2.3.4",
        ] {
            assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn unknown_and_obfuscated() {
        for node in ["unknown", "UNKNOWN", "Unknown:80", "unknown:_p"] {
            assert_eq!(parse_node(node.as_bytes()), Hop::Unknown, "{node}");
        }
        for node in ["_hidden", "_SEVKISEK", "_a.b-c_d", "_x:80", "_x:_y"] {
            assert_eq!(parse_node(node.as_bytes()), Hop::Obfuscated, "{node}");
        }
    }

    #[test]
    fn everything_else_is_malformed() {
        for node in [
            "",
            " ",
            "_",
            "_bad!",
            "unknownx",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3.4:",
            "1.2.3.4:65536",
            "1.2.3.4:123456",
            "1.2.3.4:+80",
            "1.2.3.4:-1",
            "1.2.3.4:_",
            "1.2.3.4: 80",
            " 1.2.3.4",
            "[1.2.3.4]",
            "[2001:db8::1",
            "2001:db8::1]",
            "[2001:db8::1]80",
            "[2001:db8::1]:",
            "[2001:db8::1]:x",
            "[fe80::1%eth0]",
            "fe80::1%eth0",
            "fe80::1%25eth0",
            "[]",
            "[::1]]",
            "\"1.2.3.4\"",
            "1.2.3.4;",
            "2001:db8::g",
            "example.com",
            "localhost:80",
            "\u{ff}",
        ] {
            assert_eq!(parse_node(node.as_bytes()), Hop::Malformed, "{node:?}");
        }
        assert_eq!(parse_node(&[0xff, 0xfe]), Hop::Malformed);
        assert_eq!(parse_node(&[b'1'; 100]), Hop::Malformed);
    }
}
