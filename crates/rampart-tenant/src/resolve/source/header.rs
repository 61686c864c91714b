//! A tenant header, believed only from a trusted proxy.

use http::{HeaderName, Request};
use rampart_core::{TrustedProxies, peer_addr};

use crate::{TenantId, TenantIdError, resolve::source::Found};

/// The header and the proxies allowed to set it.
#[derive(Debug, Clone)]
pub(crate) struct HeaderSource {
    name: HeaderName,
    trusted: TrustedProxies,
}

impl HeaderSource {
    pub(crate) fn new(name: HeaderName, trusted: TrustedProxies) -> Self {
        Self { name, trusted }
    }

    /// The header's tenant when the connection's peer is a trusted proxy.
    /// From anyone else the header is ignored (and `untrusted` set when it
    /// was there): a client must not pick its tenant by sending a header.
    /// A request without a recorded peer address has no trusted peer.
    pub(crate) fn find<B>(&self, request: &Request<B>, untrusted: &mut bool) -> Found {
        let mut values = request.headers().get_all(&self.name).iter();
        let Some(value) = values.next() else {
            return Found::Nothing;
        };
        let trusted = peer_addr(request).is_some_and(|peer| self.trusted.contains(peer.ip()));
        if !trusted {
            *untrusted = true;
            return Found::Nothing;
        }
        if values.next().is_some() {
            // Two values: which one the proxy meant is anyone's guess.
            return Found::Invalid(TenantIdError::InvalidChar {
                value: "(several values)".into(),
                at: 0,
            });
        }
        match TenantId::from_bytes(value.as_bytes()) {
            Ok(id) => Found::Tenant(id),
            Err(err) => Found::Invalid(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn request(peer: Option<&str>, values: &[&str]) -> Request<()> {
        let mut request = Request::new(());
        for value in values {
            request
                .headers_mut()
                .append("x-tenant-id", value.parse().unwrap());
        }
        if let Some(peer) = peer {
            request
                .extensions_mut()
                .insert(peer.parse::<SocketAddr>().unwrap());
        }
        request
    }

    fn source() -> HeaderSource {
        HeaderSource::new(
            HeaderName::from_static("x-tenant-id"),
            "10.0.0.0/8".parse().unwrap(),
        )
    }

    #[test]
    fn believed_only_from_trusted_peers() {
        let mut untrusted = false;
        let found = source().find(&request(Some("10.1.2.3:5000"), &["acme"]), &mut untrusted);
        assert!(matches!(found, Found::Tenant(id) if id.as_str() == "acme"));
        assert!(!untrusted);

        let found = source().find(
            &request(Some("203.0.113.9:5000"), &["acme"]),
            &mut untrusted,
        );
        assert!(matches!(found, Found::Nothing));
        assert!(untrusted);

        let mut untrusted = false;
        let found = source().find(&request(None, &["acme"]), &mut untrusted);
        assert!(matches!(found, Found::Nothing));
        assert!(untrusted);

        let mut untrusted = false;
        let found = source().find(&request(Some("203.0.113.9:5000"), &[]), &mut untrusted);
        assert!(matches!(found, Found::Nothing));
        assert!(!untrusted);
    }

    #[test]
    fn malformed_or_repeated_values_are_invalid() {
        let mut untrusted = false;
        for values in [&["a b"][..], &["acme", "other"], &[""], &["ac,me"]] {
            let found = source().find(&request(Some("10.0.0.1:1"), values), &mut untrusted);
            assert!(matches!(found, Found::Invalid(_)), "{values:?}");
        }
    }
}
