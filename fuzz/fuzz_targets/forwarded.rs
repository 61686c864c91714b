#![no_main]
//! Fuzzes client IP resolution from `X-Forwarded-For` and `Forwarded`.
//!
//! Input: one flags byte, 16 bytes of peer address, then header lines
//! separated by `\n`. Invariants: never a panic; an untrusted peer is always
//! the client; the result is the peer or an address written in the header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use rampart_core::{
    ClientIpResolver, ClientIpSource, ForwardedHeader, TrustedProxies, normalize_ip,
};

static TRUSTED: LazyLock<TrustedProxies> = LazyLock::new(|| {
    "10.0.0.0/8, 2001:db8::/32, 127.0.0.1, ::ffff:192.168.0.0/112"
        .parse()
        .expect("a valid list")
});

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((peer_bytes, lines)) = rest.split_at_checked(16) else {
        return;
    };
    let octets: [u8; 16] = peer_bytes.try_into().expect("16 bytes");
    let mut peer = if flags & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    if flags & 2 != 0 {
        // Most inputs should exercise the walk: put the peer in 10/8.
        peer = IpAddr::V4(Ipv4Addr::new(10, octets[1], octets[2], octets[3]));
    }
    let header = if flags & 4 == 0 {
        ForwardedHeader::XForwardedFor
    } else {
        ForwardedHeader::Forwarded
    };
    let name = HeaderName::from_static(header.as_str());

    let mut headers = HeaderMap::new();
    let mut written = Vec::new();
    for line in lines.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(name.clone(), value);
            written.push(line);
        }
    }
    if flags & 8 != 0 {
        // The header that is not configured must change nothing.
        let other = match header {
            ForwardedHeader::XForwardedFor => "forwarded",
            ForwardedHeader::Forwarded => "x-forwarded-for",
        };
        headers.append(other, HeaderValue::from_static("for=6.6.6.6, 6.6.6.6"));
    }

    let resolver = ClientIpResolver::new(TRUSTED.clone(), header);
    let client = resolver.resolve(peer, &headers);

    if !TRUSTED.contains(peer) {
        assert_eq!(client.ip(), normalize_ip(peer));
        assert_eq!(client.source(), ClientIpSource::Peer);
        return;
    }
    if client.source() == ClientIpSource::Peer {
        assert_eq!(client.ip(), normalize_ip(peer));
    } else {
        let expected_source = match header {
            ForwardedHeader::XForwardedFor => ClientIpSource::XForwardedFor,
            ForwardedHeader::Forwarded => ClientIpSource::Forwarded,
        };
        assert_eq!(client.source(), expected_source);
        assert!(
            appears_in(client.ip(), &written),
            "{client:?} is not in {written:?}"
        );
    }
});

/// Whether `ip` can be read somewhere in the lines, escapes removed.
fn appears_in(ip: IpAddr, lines: &[&[u8]]) -> bool {
    lines.iter().any(|line| {
        let text: Vec<u8> = line.iter().copied().filter(|&b| b != b'\\').collect();
        (0..text.len()).any(|start| {
            (2..=45.min(text.len() - start)).any(|len| {
                std::str::from_utf8(&text[start..start + len])
                    .ok()
                    .and_then(|s| s.parse::<IpAddr>().ok())
                    .is_some_and(|found| normalize_ip(found) == ip)
            })
        })
    })
}
