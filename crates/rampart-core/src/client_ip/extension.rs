//! The resolved client address, as layers and handlers read it.

use std::net::IpAddr;

/// The client's IP address, resolved once per request by
/// `ClientIpLayer` and stored in the request's
/// extensions for every layer and handler below it.
///
/// A request without this extension has no known client (the server recorded
/// no peer address): layers that key on the client leave such a request alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp {
    ip: IpAddr,
    source: ClientIpSource,
}

/// Where a [`ClientIp`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientIpSource {
    /// The connection's peer address: no trusted proxy stood in between.
    Peer,
    /// A `Forwarded` header (RFC 7239) written by a trusted proxy.
    Forwarded,
    /// An `X-Forwarded-For` header written by a trusted proxy.
    XForwardedFor,
}

impl ClientIp {
    /// A client address from `source`. IPv4-mapped IPv6 is stored as IPv4.
    pub fn new(ip: IpAddr, source: ClientIpSource) -> Self {
        Self {
            ip: crate::normalize_ip(ip),
            source,
        }
    }

    /// The address.
    #[inline]
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Where the address came from.
    #[inline]
    pub fn source(&self) -> ClientIpSource {
        self.source
    }
}
