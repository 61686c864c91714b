//! The address of the peer at the other end of the connection.

use std::net::{IpAddr, SocketAddr};

/// The address of the connection's peer, as the server recorded it in the
/// request's extensions: a plain [`SocketAddr`] (hyper-util and most servers
/// can be told to insert one) or, with the `axum` feature, axum's
/// `ConnectInfo<SocketAddr>`.
///
/// `None` when the server recorded neither: the request then has no client
/// address, and layers that need one leave it alone rather than fail.
///
/// # Example
///
/// ```
/// use std::net::SocketAddr;
/// use rampart_core::peer_addr;
///
/// let mut request = http::Request::new(());
/// assert_eq!(peer_addr(&request), None);
///
/// let peer: SocketAddr = "192.0.2.7:51000".parse().unwrap();
/// request.extensions_mut().insert(peer);
/// assert_eq!(peer_addr(&request), Some(peer));
/// ```
pub fn peer_addr<B>(request: &http::Request<B>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    if let Some(addr) = extensions.get::<SocketAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
    }
    None
}

/// The address with an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) turned
/// into the IPv4 address it carries, so that a dual-stack listener and an
/// IPv4 one agree on who a client is.
#[inline]
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_become_ipv4() {
        let ip: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(normalize_ip(ip), "203.0.113.9".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(normalize_ip(v6), v6);
        // IPv4-compatible (deprecated, ::a.b.c.d) is not IPv4-mapped and stays IPv6.
        let compat: IpAddr = "::203.0.113.9".parse().unwrap();
        assert_eq!(normalize_ip(compat), compat);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn reads_axum_connect_info() {
        let peer: SocketAddr = "198.51.100.1:4000".parse().unwrap();
        let mut request = http::Request::new(());
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        assert_eq!(peer_addr(&request), Some(peer));
    }
}
