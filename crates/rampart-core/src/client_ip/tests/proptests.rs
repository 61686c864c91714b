//! Properties over generated headers: spoofing never works, a well-formed
//! chain resolves to its rightmost untrusted hop whatever the client wrote to
//! its left, and no input panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn proxies() -> TrustedProxies {
    PROXIES.parse().unwrap()
}

/// An address inside [`PROXIES`].
fn trusted_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from((10 << 24) | (n & 0x00ff_ffff)))),
        any::<[u16; 5]>().prop_map(|[a, b, c, d, e]| {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, a, b, c, d, e))
        }),
        Just(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ]
}

/// An address outside [`PROXIES`], IPv4-mapped ones included.
fn untrusted_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(IpAddr::V4),
        any::<Ipv6Addr>().prop_map(IpAddr::V6),
        any::<Ipv4Addr>().prop_map(|v4| IpAddr::V6(v4.to_ipv6_mapped())),
    ]
    .prop_filter("outside the trusted proxies", |ip| !proxies().contains(*ip))
}

/// Bytes a header value may hold, the parsers' delimiters often.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b",;=\"\\[]:_ .\t0123456789abcdefforFORunknown%".to_vec()),
        1 => 0x20u8..=0x7e,
        1 => 0x80u8..=0xff,
    ]
}

fn header_line(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(header_byte(), 0..max)
}

/// One hop as a proxy might write it into `X-Forwarded-For`.
fn xff_hop(ip: IpAddr, style: u8, port: u16) -> String {
    match (ip, style % 4) {
        (IpAddr::V4(v4), 0) => v4.to_string(),
        (IpAddr::V4(v4), 1) => format!("{v4}:{port}"),
        (IpAddr::V4(v4), 2) => v4.to_ipv6_mapped().to_string(),
        (IpAddr::V4(v4), _) => format!("[{}]:{port}", v4.to_ipv6_mapped()),
        (IpAddr::V6(v6), 0 | 1) => v6.to_string(),
        (IpAddr::V6(v6), 2) => format!("[{v6}]"),
        (IpAddr::V6(v6), _) => format!("[{v6}]:{port}"),
    }
}

/// One element as a proxy might write it into `Forwarded`.
fn forwarded_hop(ip: IpAddr, style: u8, port: u16) -> String {
    let node = match (ip, style % 4) {
        (IpAddr::V4(v4), 0) => format!("for={v4}"),
        (IpAddr::V4(v4), 1) => format!("for=\"{v4}:{port}\""),
        (IpAddr::V4(v4), 2) => format!("For=\"[{}]\"", v4.to_ipv6_mapped()),
        (IpAddr::V4(v4), _) => format!("FOR=\"{v4}:_p{port}\""),
        (IpAddr::V6(v6), 0 | 1) => format!("for=\"[{v6}]\""),
        (IpAddr::V6(v6), 2) => format!("for=\"[{v6}]:{port}\""),
        (IpAddr::V6(v6), _) => format!("for=[{v6}]:{port}"),
    };
    match style / 4 % 4 {
        0 => node,
        1 => format!("{node};proto=https"),
        2 => format!("proto=http;{node};by=\"_p,x;y\""),
        _ => format!("host=\"a\\\"b,c\" ; {node}"),
    }
}

/// Joins hops into header lines: `breaks[i]` starts a new line before hop
/// `i + 1`; the separators vary.
fn lines(prefix: &[u8], hops: &[String], breaks: &[bool]) -> Vec<Vec<u8>> {
    let mut lines = vec![prefix.to_vec()];
    for (i, hop) in hops.iter().enumerate() {
        let line = lines.last_mut().unwrap();
        let new_line = i > 0 && breaks.get(i).copied().unwrap_or(false);
        if new_line {
            lines.push(hop.clone().into_bytes());
            continue;
        }
        if !line.is_empty() || i > 0 {
            line.extend_from_slice([&b","[..], b", ", b" ,\t"][i % 3]);
        }
        line.extend_from_slice(hop.as_bytes());
    }
    lines
}

fn header_map(name: &str, lines: &[Vec<u8>]) -> HeaderMap {
    let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    headers(name, &lines)
}

/// Whether `ip` can be read somewhere in `bytes` (escapes removed): the
/// resolver never makes up an address.
fn appears_in(ip: IpAddr, lines: &[Vec<u8>]) -> bool {
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn untrusted_peer_is_always_the_client(
        peer in untrusted_ip(),
        xff_lines in prop::collection::vec(header_line(64), 0..4),
        fwd_lines in prop::collection::vec(header_line(64), 0..4),
    ) {
        let mut h = header_map("x-forwarded-for", &xff_lines);
        h.extend(header_map("forwarded", &fwd_lines));
        let want = ClientIp::new(peer, ClientIpSource::Peer);
        for header in [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded] {
            prop_assert_eq!(resolver(header).resolve(peer, &h), want);
        }
    }

    #[test]
    fn chain_resolves_to_the_rightmost_untrusted_hop(
        client in untrusted_ip(),
        proxies in prop::collection::vec(trusted_ip(), 0..6),
        peer in trusted_ip(),
        styles in prop::collection::vec(any::<u8>(), 7),
        port in any::<u16>(),
        breaks in prop::collection::vec(any::<bool>(), 7),
        prefix in header_line(48),
    ) {
        let chain: Vec<IpAddr> = std::iter::once(client).chain(proxies.iter().copied()).collect();
        let want = normalize_ip(client);

        let hops: Vec<String> =
            chain.iter().zip(&styles).map(|(&ip, &s)| xff_hop(ip, s, port)).collect();
        let lines_ = lines(&prefix, &hops, &breaks);
        let got = resolver(ForwardedHeader::XForwardedFor)
            .resolve(peer, &header_map("x-forwarded-for", &lines_));
        prop_assert_eq!(got, ClientIp::new(want, ClientIpSource::XForwardedFor), "{:?}", lines_);

        let hops: Vec<String> =
            chain.iter().zip(&styles).map(|(&ip, &s)| forwarded_hop(ip, s, port)).collect();
        let lines_ = lines(&prefix, &hops, &breaks);
        let got = resolver(ForwardedHeader::Forwarded)
            .resolve(peer, &header_map("forwarded", &lines_));
        prop_assert_eq!(got, ClientIp::new(want, ClientIpSource::Forwarded), "{:?}", lines_);
    }

    #[test]
    fn all_trusted_chain_resolves_to_the_leftmost(
        chain in prop::collection::vec(trusted_ip(), 1..6),
        peer in trusted_ip(),
        styles in prop::collection::vec(any::<u8>(), 6),
        breaks in prop::collection::vec(any::<bool>(), 6),
    ) {
        let want = normalize_ip(chain[0]);
        let hops: Vec<String> =
            chain.iter().zip(&styles).map(|(&ip, &s)| xff_hop(ip, s, 80)).collect();
        let got = resolver(ForwardedHeader::XForwardedFor)
            .resolve(peer, &header_map("x-forwarded-for", &lines(b"", &hops, &breaks)));
        prop_assert_eq!(got, ClientIp::new(want, ClientIpSource::XForwardedFor));

        let hops: Vec<String> =
            chain.iter().zip(&styles).map(|(&ip, &s)| forwarded_hop(ip, s, 80)).collect();
        let got = resolver(ForwardedHeader::Forwarded)
            .resolve(peer, &header_map("forwarded", &lines(b"", &hops, &breaks)));
        prop_assert_eq!(got, ClientIp::new(want, ClientIpSource::Forwarded));
    }

    #[test]
    fn arbitrary_bytes_from_a_trusted_peer_never_panic_nor_invent(
        peer in trusted_ip(),
        header_lines in prop::collection::vec(header_line(128), 0..4),
    ) {
        for (header, name) in [
            (ForwardedHeader::XForwardedFor, "x-forwarded-for"),
            (ForwardedHeader::Forwarded, "forwarded"),
        ] {
            let got = resolver(header).resolve(peer, &header_map(name, &header_lines));
            if got.source() == ClientIpSource::Peer {
                prop_assert_eq!(got.ip(), normalize_ip(peer));
            } else {
                prop_assert!(appears_in(got.ip(), &header_lines), "{:?} from {:?}", got, header_lines);
            }
        }
    }
}
