//! The resolution rule and the service, end to end: what a handler sees.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

use http::{HeaderMap, HeaderValue, Request, Response};
use tower::{Layer, ServiceExt, service_fn};

use super::*;

mod proptests;
#[cfg(feature = "axum")]
mod server;

const PROXIES: &str = "10.0.0.0/8, 2001:db8:ffff::/48, 127.0.0.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn headers(name: &str, lines: &[&[u8]]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(line).unwrap(),
        );
    }
    headers
}

fn resolver(header: ForwardedHeader) -> ClientIpResolver {
    ClientIpResolver::new(PROXIES.parse().unwrap(), header)
}

/// Resolves with `X-Forwarded-For` lines.
fn xff(peer: &str, lines: &[&[u8]]) -> ClientIp {
    resolver(ForwardedHeader::XForwardedFor).resolve(ip(peer), &headers("x-forwarded-for", lines))
}

/// Resolves with `Forwarded` lines.
fn fwd(peer: &str, lines: &[&[u8]]) -> ClientIp {
    resolver(ForwardedHeader::Forwarded).resolve(ip(peer), &headers("forwarded", lines))
}

fn peer(s: &str) -> ClientIp {
    ClientIp::new(ip(s), ClientIpSource::Peer)
}

fn from_xff(s: &str) -> ClientIp {
    ClientIp::new(ip(s), ClientIpSource::XForwardedFor)
}

fn from_fwd(s: &str) -> ClientIp {
    ClientIp::new(ip(s), ClientIpSource::Forwarded)
}

#[test]
fn untrusted_peer_is_the_client_whatever_it_sends() {
    // The spoofing attempt of the issue.
    assert_eq!(xff("198.51.100.1", &[b"1.2.3.4"]), peer("198.51.100.1"));
    assert_eq!(fwd("198.51.100.1", &[b"for=1.2.3.4"]), peer("198.51.100.1"));
    // Even when the header names a trusted proxy or looks like a chain.
    assert_eq!(
        xff("198.51.100.1", &[b"1.2.3.4, 10.0.0.1"]),
        peer("198.51.100.1")
    );
    assert_eq!(xff("2001:db8::1", &[b"1.2.3.4"]), peer("2001:db8::1"));
    // No proxies configured at all: the default.
    let default = ClientIpResolver::default();
    let h = headers("x-forwarded-for", &[b"1.2.3.4"]);
    assert_eq!(default.resolve(ip("127.0.0.1"), &h), peer("127.0.0.1"));
}

#[test]
fn one_trusted_proxy() {
    assert_eq!(xff("10.0.0.1", &[b"203.0.113.7"]), from_xff("203.0.113.7"));
    assert_eq!(
        fwd("10.0.0.1", &[b"for=203.0.113.7"]),
        from_fwd("203.0.113.7")
    );
    assert_eq!(xff("127.0.0.1", &[b"203.0.113.7"]), from_xff("203.0.113.7"));
}

#[test]
fn chains_of_proxies_resolve_to_the_first_untrusted_hop_from_the_right() {
    assert_eq!(
        xff("10.0.0.4", &[b"203.0.113.7, 10.0.0.2, 10.0.0.3"]),
        from_xff("203.0.113.7")
    );
    // What the client wrote left of its own address is ignored.
    assert_eq!(
        xff("10.0.0.4", &[b"6.6.6.6, 7.7.7.7, 203.0.113.7, 10.0.0.3"]),
        from_xff("203.0.113.7")
    );
    assert_eq!(
        xff("10.0.0.4", &[b"garbage, \"quoted\", 203.0.113.7, 10.0.0.3"]),
        from_xff("203.0.113.7")
    );
    assert_eq!(
        fwd(
            "10.0.0.4",
            &[b"for=6.6.6.6, for=203.0.113.7;proto=https, for=10.0.0.2;by=10.0.0.3"]
        ),
        from_fwd("203.0.113.7")
    );
    // A client that names a trusted proxy as itself does not get further
    // than its own address, which the first proxy appended.
    assert_eq!(
        xff("10.0.0.4", &[b"10.9.9.9, 203.0.113.7, 10.0.0.3"]),
        from_xff("203.0.113.7")
    );
}

#[test]
fn every_hop_trusted_gives_the_leftmost() {
    assert_eq!(
        xff("10.0.0.4", &[b"10.0.0.1, 10.0.0.2"]),
        from_xff("10.0.0.1")
    );
    assert_eq!(
        fwd("10.0.0.4", &[b"for=10.0.0.1, for=\"[2001:db8:ffff::1]\""]),
        from_fwd("10.0.0.1")
    );
}

#[test]
fn no_header_from_a_trusted_proxy_is_the_proxy() {
    assert_eq!(xff("10.0.0.1", &[]), peer("10.0.0.1"));
    assert_eq!(fwd("10.0.0.1", &[]), peer("10.0.0.1"));
}

#[test]
fn only_the_configured_header_is_believed() {
    // The proxy writes X-Forwarded-For; the client's Forwarded passes through
    // untouched and must not count.
    let mut h = headers("x-forwarded-for", &[b"203.0.113.7"]);
    h.append("forwarded", HeaderValue::from_static("for=6.6.6.6"));
    let client = resolver(ForwardedHeader::XForwardedFor).resolve(ip("10.0.0.1"), &h);
    assert_eq!(client, from_xff("203.0.113.7"));
    let client = resolver(ForwardedHeader::Forwarded).resolve(ip("10.0.0.1"), &h);
    assert_eq!(client, from_fwd("6.6.6.6"));
    // And the other way round: nothing in the configured header → the peer.
    let h = headers("forwarded", &[b"for=6.6.6.6"]);
    let client = resolver(ForwardedHeader::XForwardedFor).resolve(ip("10.0.0.1"), &h);
    assert_eq!(client, peer("10.0.0.1"));
}

#[test]
fn ipv6_everywhere() {
    assert_eq!(
        xff("2001:db8:ffff::1", &[b"2001:db8::7"]),
        from_xff("2001:db8::7")
    );
    assert_eq!(
        xff(
            "2001:db8:ffff::1",
            &[b"[2001:db8::7]:4711, 2001:db8:ffff::2"]
        ),
        from_xff("2001:db8::7")
    );
    assert_eq!(
        fwd("2001:db8:ffff::1", &[br#"for="[2001:db8::7]:4711""#]),
        from_fwd("2001:db8::7")
    );
    assert_eq!(xff("2001:db8:ffff::1", &[b"1.2.3.4"]), from_xff("1.2.3.4"));
    assert_eq!(xff("10.0.0.1", &[b"2001:db8::7"]), from_xff("2001:db8::7"));
}

#[test]
fn ipv4_mapped_ipv6_is_ipv4_in_peer_and_hops() {
    // A dual-stack listener reports the proxy as ::ffff:10.0.0.1.
    assert_eq!(
        xff("::ffff:10.0.0.1", &[b"203.0.113.7"]),
        from_xff("203.0.113.7")
    );
    assert_eq!(
        xff("::ffff:10.0.0.1", &[b"::ffff:203.0.113.7, ::ffff:10.0.0.2"]),
        from_xff("203.0.113.7")
    );
    assert_eq!(
        fwd("10.0.0.1", &[br#"for="[::ffff:203.0.113.7]:80""#]),
        from_fwd("203.0.113.7")
    );
    assert_eq!(
        xff("::ffff:198.51.100.1", &[b"1.2.3.4"]),
        peer("198.51.100.1")
    );
    assert_eq!(xff("::ffff:198.51.100.1", &[]).ip(), ip("198.51.100.1"));
}

#[test]
fn ports_are_dropped() {
    assert_eq!(
        xff("10.0.0.1", &[b"203.0.113.7:51234, 10.0.0.2:443"]),
        from_xff("203.0.113.7")
    );
    assert_eq!(
        fwd("10.0.0.1", &[b"for=\"203.0.113.7:51234\""]),
        from_fwd("203.0.113.7")
    );
    assert_eq!(
        fwd("10.0.0.1", &[b"for=\"203.0.113.7:_p\""]),
        from_fwd("203.0.113.7")
    );
}

#[test]
fn unknown_and_obfuscated_hops_fall_back_to_the_peer() {
    assert_eq!(fwd("10.0.0.1", &[b"for=unknown"]), peer("10.0.0.1"));
    assert_eq!(fwd("10.0.0.1", &[b"for=\"_hidden\""]), peer("10.0.0.1"));
    assert_eq!(
        fwd("10.0.0.1", &[b"for=203.0.113.7, for=_hidden"]),
        peer("10.0.0.1")
    );
    assert_eq!(
        xff("10.0.0.1", &[b"203.0.113.7, unknown"]),
        peer("10.0.0.1")
    );
    // Left of the client they do not matter: they are never walked.
    assert_eq!(
        fwd("10.0.0.1", &[b"for=unknown, for=203.0.113.7"]),
        from_fwd("203.0.113.7")
    );
    assert_eq!(
        xff("10.0.0.1", &[b"_x, 203.0.113.7"]),
        from_xff("203.0.113.7")
    );
}

#[test]
fn garbage_falls_back_to_the_peer_and_never_panics() {
    let garbage: &[&[u8]] = &[
        b"",
        b" ",
        b",",
        b",,,,,",
        b" , , ",
        b"\xff\xfe\x80",
        b"1.2.3.4\xff",
        b"\"",
        b"\"\"\"",
        b"for=\"1.2.3.4",
        b"for=1.2.3.4\"",
        b"\\",
        b"for=\\",
        b";;;",
        b"===",
        b"for==1.2.3.4",
        b"[",
        b"]",
        b"[::1",
        b"fe80::1%eth0",
        b"for=\"[fe80::1%25eth0]\"",
        b"1.2.3.4 5.6.7.8",
        b"203.0.113.7,",
        b"for=203.0.113.7,",
        b"\t",
    ];
    for line in garbage {
        let show = String::from_utf8_lossy(line);
        assert_eq!(
            xff("10.0.0.1", &[line]),
            peer("10.0.0.1"),
            "X-Forwarded-For: {show}"
        );
        assert_eq!(
            fwd("10.0.0.1", &[line]),
            peer("10.0.0.1"),
            "Forwarded: {show}"
        );
    }
}

#[test]
fn huge_headers() {
    // 100 000 commas, then the client: a few hops are walked, no more.
    let mut line = vec![b','; 100_000];
    line.extend_from_slice(b"203.0.113.7");
    assert_eq!(xff("10.0.0.1", &[&line]), from_xff("203.0.113.7"));
    let mut line = b"for=".to_vec();
    line.extend(std::iter::repeat_n(b'1', 100_000));
    assert_eq!(fwd("10.0.0.1", &[&line]), peer("10.0.0.1"));
    // A long client-written prefix, an unbalanced quote in it.
    let mut line = b"for=\"".to_vec();
    line.extend(std::iter::repeat_n(b'x', 100_000));
    line.extend_from_slice(b", for=203.0.113.7");
    assert_eq!(fwd("10.0.0.1", &[&line]), from_fwd("203.0.113.7"));
}

#[test]
fn the_walk_stops_at_max_hops() {
    let chain = |trusted_hops: usize| {
        let mut line = String::from("203.0.113.7");
        for i in 0..trusted_hops {
            line.push_str(&format!(", 10.0.{}.{}", i / 250, i % 250 + 1));
        }
        line
    };
    let max = ClientIpResolver::MAX_HOPS;
    // The client is hop number `max` from the right: still found.
    assert_eq!(
        xff("10.0.0.1", &[chain(max - 1).as_bytes()]),
        from_xff("203.0.113.7")
    );
    // One further: the walk gives up, the peer it is.
    assert_eq!(xff("10.0.0.1", &[chain(max).as_bytes()]), peer("10.0.0.1"));
    assert_eq!(xff("10.0.0.1", &[chain(1000).as_bytes()]), peer("10.0.0.1"));
    // Exactly `max` hops, all trusted: the leftmost.
    let all_trusted = chain(max).replacen("203.0.113.7, ", "", 1);
    assert_eq!(
        xff("10.0.0.1", &[all_trusted.as_bytes()]),
        from_xff("10.0.0.1")
    );
}

#[test]
fn several_header_lines_are_one_list() {
    assert_eq!(
        xff(
            "10.0.0.3",
            &[b"6.6.6.6, 203.0.113.7", b"10.0.0.1", b"10.0.0.2"]
        ),
        from_xff("203.0.113.7")
    );
    assert_eq!(
        fwd(
            "10.0.0.3",
            &[b"for=203.0.113.7", b"for=10.0.0.1, for=10.0.0.2"]
        ),
        from_fwd("203.0.113.7")
    );
    // A broken line right of the client breaks the walk.
    assert_eq!(
        xff("10.0.0.3", &[b"203.0.113.7", b"nonsense"]),
        peer("10.0.0.3")
    );
    assert_eq!(
        fwd("10.0.0.3", &[b"for=203.0.113.7", b"for=\""]),
        peer("10.0.0.3")
    );
}

// ----- the service -----

type Seen = Option<ClientIp>;

async fn through(layer: ClientIpLayer, request: Request<()>) -> Seen {
    let service = layer.layer(service_fn(|request: Request<()>| async move {
        Ok::<_, Infallible>(Response::new(
            request.extensions().get::<ClientIp>().copied(),
        ))
    }));
    // The error type stays `Infallible`: nothing is widened.
    let response: Response<Seen> = match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    response.into_body()
}

fn request(peer: Option<&str>, xff: Option<&str>) -> Request<()> {
    let mut request = Request::new(());
    if let Some(peer) = peer {
        request
            .extensions_mut()
            .insert(peer.parse::<SocketAddr>().unwrap());
    }
    if let Some(xff) = xff {
        request
            .headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
    }
    request
}

fn trusting() -> ClientIpLayer {
    ClientIpLayer::new().trusted_proxies(PROXIES.parse::<TrustedProxies>().unwrap())
}

#[tokio::test]
async fn service_inserts_the_client_ip() {
    let seen = through(
        trusting(),
        request(Some("10.0.0.1:5000"), Some("203.0.113.7")),
    )
    .await;
    assert_eq!(seen, Some(from_xff("203.0.113.7")));
}

#[tokio::test]
async fn service_spoofing_from_an_untrusted_peer() {
    let seen = through(
        trusting(),
        request(Some("198.51.100.1:5000"), Some("1.2.3.4")),
    )
    .await;
    assert_eq!(seen, Some(peer("198.51.100.1")));
}

#[tokio::test]
async fn service_without_a_peer_adds_nothing() {
    let seen = through(trusting(), request(None, Some("203.0.113.7"))).await;
    assert_eq!(seen, None);
}

#[tokio::test]
async fn service_replaces_an_earlier_value() {
    let mut request = request(Some("198.51.100.1:5000"), None);
    request.extensions_mut().insert(from_xff("6.6.6.6"));
    assert_eq!(
        through(trusting(), request).await,
        Some(peer("198.51.100.1"))
    );
}

#[tokio::test]
async fn service_on_a_dual_stack_listener() {
    let seen = through(
        trusting(),
        request(Some("[::ffff:10.0.0.1]:5000"), Some("203.0.113.7")),
    )
    .await;
    assert_eq!(seen, Some(from_xff("203.0.113.7")));
    let seen = through(
        trusting(),
        request(Some("[::ffff:198.51.100.1]:5000"), None),
    )
    .await;
    assert_eq!(seen, Some(peer("198.51.100.1")));
}

#[tokio::test]
async fn service_with_forwarded() {
    let layer = trusting().header(ForwardedHeader::Forwarded);
    let mut request = request(Some("127.0.0.1:5000"), Some("6.6.6.6"));
    request.headers_mut().insert(
        "forwarded",
        HeaderValue::from_static(r#"for="[2001:db8::7]:4711";proto=https"#),
    );
    assert_eq!(through(layer, request).await, Some(from_fwd("2001:db8::7")));
}

#[tokio::test]
async fn service_clones_share_the_resolver_and_accessors_work() {
    let service = trusting().layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let clone = service.clone();
    assert_eq!(clone.resolver(), service.resolver());
    assert!(
        clone.resolver().trusted_proxies().networks().as_ptr()
            == service.resolver().trusted_proxies().networks().as_ptr(),
        "clones share one list of networks"
    );
    let mut clone = clone;
    let _ = clone.get_mut();
    let _ = clone.get_ref();
    let _inner = clone.into_inner();
}

#[test]
fn layer_builders_keep_each_other() {
    let layer = ClientIpLayer::new()
        .header(ForwardedHeader::Forwarded)
        .trusted_proxies(TrustedProxies::loopback());
    assert_eq!(layer.resolver().header(), ForwardedHeader::Forwarded);
    assert!(!layer.resolver().trusted_proxies().is_empty());
    let layer = layer.header(ForwardedHeader::XForwardedFor);
    assert!(!layer.resolver().trusted_proxies().is_empty());
    let debug = format!("{layer:?}");
    assert!(debug.contains("127.0.0.0/8"), "{debug}");
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn service_reads_axum_connect_info() {
    let mut request = request(None, Some("203.0.113.7"));
    request.extensions_mut().insert(axum::extract::ConnectInfo(
        "10.0.0.1:5000".parse::<SocketAddr>().unwrap(),
    ));
    assert_eq!(
        through(trusting(), request).await,
        Some(from_xff("203.0.113.7"))
    );

    // Through a real axum router, as an application mounts it.
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(
                |axum::Extension(client): axum::Extension<ClientIp>| async move {
                    client.ip().to_string()
                },
            ),
        )
        .layer(trusting());
    let mut request = Request::builder()
        .uri("/")
        .header("x-forwarded-for", "1.2.3.4")
        .body(axum::body::Body::empty())
        .unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(
        "198.51.100.1:5000".parse::<SocketAddr>().unwrap(),
    ));
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"198.51.100.1");
}

#[cfg(feature = "serde")]
#[test]
fn serde_config() {
    let config: ClientIpConfig = serde_json::from_str(
        r#"{"trusted_proxies": "10.0.0.0/8, 127.0.0.1", "header": "Forwarded"}"#,
    )
    .unwrap();
    assert_eq!(
        config.trusted_proxies.to_string(),
        "10.0.0.0/8,127.0.0.1/32"
    );
    assert_eq!(config.header, ForwardedHeader::Forwarded);

    let config: ClientIpConfig =
        serde_json::from_str(r#"{"trusted_proxies": ["10.0.0.0/8", "::1"]}"#).unwrap();
    assert_eq!(config.trusted_proxies.to_string(), "10.0.0.0/8,::1/128");
    assert_eq!(config.header, ForwardedHeader::XForwardedFor);

    let config: ClientIpConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(config, ClientIpConfig::default());

    // Round trip.
    let config = ClientIpConfig {
        trusted_proxies: PROXIES.parse().unwrap(),
        header: ForwardedHeader::Forwarded,
    };
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(
        serde_json::from_str::<ClientIpConfig>(&json).unwrap(),
        config
    );

    for (bad, names) in [
        (r#"{"trusted_proxies": "10.0.0.0/8,bogus"}"#, "bogus"),
        (r#"{"trusted_proxies": ["10.0.0.1/8"]}"#, "10.0.0.1/8"),
        (r#"{"header": "both"}"#, "both"),
        (r#"{"trusted_proxy": "10.0.0.0/8"}"#, "trusted_proxy"),
        (r#"{"trusted_proxies": 7}"#, "comma-separated"),
    ] {
        let err = serde_json::from_str::<ClientIpConfig>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains(names), "{bad}: {err}");
    }
}
