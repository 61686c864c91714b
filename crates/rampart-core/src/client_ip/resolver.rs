//! The rule that turns a peer address and a request's headers into a client
//! address.

use std::net::IpAddr;

use http::HeaderMap;

use super::{
    ClientIp, ClientIpSource, ForwardedHeader, TrustedProxies, forwarded::ForwardedHops, hop::Hop,
    x_forwarded_for::XForwardedForHops,
};

/// Resolves a request's client address from its peer address and, only when
/// the peer is a trusted proxy, from one forwarding header.
///
/// This is what [`ClientIpLayer`](crate::ClientIpLayer) runs on every request,
/// usable on its own where there is no Tower service (a fuzz target, a
/// benchmark, a server that keeps its own request type). Cloning is a
/// reference-count increment: the trusted networks live behind an `Arc`.
///
/// # The rule
///
/// 1. The peer is not inside [`TrustedProxies`]: the client is the peer.
///    Headers are never looked at, so a client cannot name itself.
/// 2. Otherwise the configured header's hops are walked from the right
///    (the rightmost was written by the peer itself). Hops that are trusted
///    proxies are skipped; the first hop that is not is the client.
/// 3. A walked hop that is malformed, `unknown` or obfuscated (`_hidden`)
///    ends the walk and the client is the peer: the chain of trust is broken
///    there, and nothing left of it may be believed.
/// 4. Every hop is a trusted proxy: the client is the leftmost hop (an
///    internal service that called through the proxies).
/// 5. No header at all: the client is the peer (a health check by the load
///    balancer, say).
/// 6. At most [`MAX_HOPS`](Self::MAX_HOPS) hops are walked; a longer chain
///    of trusted proxies resolves to the peer. No real deployment has that
///    many, and the cap bounds the work a request can cause.
///
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`), in the peer and in the
/// hops, are compared and reported as IPv4.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use rampart_core::{ClientIpResolver, ClientIpSource, ForwardedHeader};
///
/// let resolver = ClientIpResolver::new("10.0.0.0/8".parse()?, ForwardedHeader::XForwardedFor);
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse()?);
///
/// // Through two proxies of ours.
/// let client = resolver.resolve("10.0.0.1".parse()?, &headers);
/// assert_eq!(client.ip(), "203.0.113.7".parse::<std::net::IpAddr>()?);
/// assert_eq!(client.source(), ClientIpSource::XForwardedFor);
///
/// // The same header straight from the internet names nobody.
/// let client = resolver.resolve("198.51.100.1".parse()?, &headers);
/// assert_eq!(client.ip(), "198.51.100.1".parse::<std::net::IpAddr>()?);
/// assert_eq!(client.source(), ClientIpSource::Peer);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIpResolver {
    trusted: TrustedProxies,
    header: ForwardedHeader,
}

impl ClientIpResolver {
    /// The most hops a walk looks at. A longer chain of trusted proxies
    /// resolves to the peer.
    pub const MAX_HOPS: usize = 32;

    /// Believes `header` when the peer is inside `trusted`.
    ///
    /// ```
    /// use rampart_core::{ClientIpResolver, ForwardedHeader, TrustedProxies};
    ///
    /// let resolver = ClientIpResolver::new(TrustedProxies::loopback(), ForwardedHeader::Forwarded);
    /// assert_eq!(resolver.header(), ForwardedHeader::Forwarded);
    /// ```
    pub fn new(trusted: TrustedProxies, header: ForwardedHeader) -> Self {
        Self { trusted, header }
    }

    /// The trusted proxies.
    ///
    /// ```
    /// use rampart_core::ClientIpResolver;
    ///
    /// assert!(ClientIpResolver::default().trusted_proxies().is_empty());
    /// ```
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The header that is believed from a trusted proxy.
    ///
    /// ```
    /// use rampart_core::{ClientIpResolver, ForwardedHeader};
    ///
    /// assert_eq!(ClientIpResolver::default().header(), ForwardedHeader::XForwardedFor);
    /// ```
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// The client address of a request that arrived from `peer` with
    /// `headers`, by the rule above. Never fails: when in doubt, the peer.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use rampart_core::{ClientIpResolver, ClientIpSource, ForwardedHeader, TrustedProxies};
    ///
    /// let resolver = ClientIpResolver::new(TrustedProxies::loopback(), ForwardedHeader::Forwarded);
    /// let mut headers = HeaderMap::new();
    /// headers.insert("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#.parse()?);
    ///
    /// let client = resolver.resolve("127.0.0.1".parse()?, &headers);
    /// assert_eq!(client.ip().to_string(), "2001:db8::7");
    /// assert_eq!(client.source(), ClientIpSource::Forwarded);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> ClientIp {
        let peer = crate::normalize_ip(peer);
        if !self.trusted.contains(peer) {
            return ClientIp::new(peer, ClientIpSource::Peer);
        }
        match self.header {
            ForwardedHeader::XForwardedFor => self.walk(
                peer,
                XForwardedForHops::new(headers),
                ClientIpSource::XForwardedFor,
            ),
            ForwardedHeader::Forwarded => {
                self.walk(peer, ForwardedHops::new(headers), ClientIpSource::Forwarded)
            }
        }
    }

    /// The client address of `request`, or `None` when the server recorded
    /// no peer address (see [`peer_addr`](crate::peer_addr)).
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use rampart_core::ClientIpResolver;
    ///
    /// let mut request = http::Request::new(());
    /// assert_eq!(ClientIpResolver::default().resolve_request(&request), None);
    ///
    /// request.extensions_mut().insert("192.0.2.1:50000".parse::<SocketAddr>()?);
    /// let client = ClientIpResolver::default().resolve_request(&request).unwrap();
    /// assert_eq!(client.ip().to_string(), "192.0.2.1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve_request<B>(&self, request: &http::Request<B>) -> Option<ClientIp> {
        let peer = crate::peer_addr(request)?;
        Some(self.resolve(peer.ip(), request.headers()))
    }

    fn walk(
        &self,
        peer: IpAddr,
        hops: impl Iterator<Item = Hop>,
        source: ClientIpSource,
    ) -> ClientIp {
        let mut leftmost = None;
        for (walked, hop) in hops.enumerate() {
            if walked == Self::MAX_HOPS {
                return ClientIp::new(peer, ClientIpSource::Peer);
            }
            match hop {
                // `Hop::Ip` is already normalized.
                Hop::Ip(ip) if self.trusted.contains(ip) => leftmost = Some(ip),
                Hop::Ip(ip) => return ClientIp::new(ip, source),
                Hop::Unknown | Hop::Obfuscated | Hop::Malformed => {
                    return ClientIp::new(peer, ClientIpSource::Peer);
                }
            }
        }
        match leftmost {
            Some(ip) => ClientIp::new(ip, source),
            None => ClientIp::new(peer, ClientIpSource::Peer),
        }
    }
}
