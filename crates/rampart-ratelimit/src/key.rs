//! Whose quota a request spends: the client address, the authenticated
//! principal, a composite of both, or anything a function returns.

use std::{
    borrow::Cow,
    fmt,
    net::{IpAddr, Ipv6Addr},
    sync::Arc,
};

use http::request::Parts;
use rampart_core::ClientIp;

/// The identity a policy counts a request against.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::Key;
///
/// let key = Key::ip_and("203.0.113.7".parse().unwrap(), "ada@example.com");
/// assert_eq!(key.to_string(), "203.0.113.7|ada@example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client address (or an IPv6 prefix, its host bits zeroed).
    Ip(IpAddr),
    /// A name: a user id, a tenant, an API key's id.
    Text(Arc<str>),
    /// A client address together with a name (client IP + submitted login name).
    IpAnd(IpAddr, Arc<str>),
}

impl Key {
    /// A key from a client address.
    pub fn ip(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }

    /// A key from a name.
    pub fn text(text: impl Into<Arc<str>>) -> Self {
        Self::Text(text.into())
    }

    /// A key from a client address and a name.
    pub fn ip_and(ip: IpAddr, text: impl Into<Arc<str>>) -> Self {
        Self::IpAnd(ip, text.into())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Text(text) => f.write_str(text),
            Self::IpAnd(ip, text) => write!(f, "{ip}|{text}"),
        }
    }
}

/// Finds the key of a request for one policy.
///
/// Returning `None` means "this policy cannot tell who this is": the request
/// is not limited by the policy and the miss is counted (`no_key`). It is
/// never an error and never a 500.
///
/// # Example
///
/// ```
/// use http::request::Parts;
/// use rampart_ratelimit::{Key, KeyExtractor};
///
/// /// Keys on the `X-Api-Key` header's value (safe only where a gateway checked it).
/// #[derive(Debug)]
/// struct ApiKey;
///
/// impl KeyExtractor for ApiKey {
///     fn extract(&self, parts: &Parts) -> Option<Key> {
///         let value = parts.headers.get("x-api-key")?.to_str().ok()?;
///         Some(Key::text(value))
///     }
/// }
///
/// let (parts, ()) = http::Request::builder().header("x-api-key", "k1").body(()).unwrap().into_parts();
/// assert_eq!(ApiKey.extract(&parts), Some(Key::text("k1")));
/// ```
pub trait KeyExtractor: fmt::Debug + Send + Sync + 'static {
    /// The key of this request, or `None` when there is none.
    fn extract(&self, parts: &Parts) -> Option<Key>;
}

/// Keys on the client address that rampart-core's `ClientIpLayer` resolved
/// (the [`ClientIp`] extension). Forwarding headers are never read here: they
/// count only where `ClientIpLayer` trusts the proxy that wrote them, so a
/// client cannot pick its own key.
///
/// IPv6 clients are keyed by their `/64` by default: one subscriber usually
/// holds a whole `/64` and could otherwise rotate through 2^64 addresses.
///
/// # Example
///
/// ```
/// use rampart_core::{ClientIp, ClientIpSource};
/// use rampart_ratelimit::{ClientIpKey, Key, KeyExtractor};
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(ClientIp::new("2001:db8::1".parse().unwrap(), ClientIpSource::Peer));
/// let (parts, ()) = request.into_parts();
/// assert_eq!(ClientIpKey::new().extract(&parts), Some(Key::ip("2001:db8::".parse().unwrap())));
/// assert_eq!(ClientIpKey::new().ipv6_prefix(128).extract(&parts), Some(Key::ip("2001:db8::1".parse().unwrap())));
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct ClientIpKey {
    v6_prefix: u8,
}

impl Default for ClientIpKey {
    fn default() -> Self {
        Self { v6_prefix: 64 }
    }
}

impl ClientIpKey {
    /// IPv4 by address, IPv6 by `/64`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys IPv6 clients by this prefix length (clamped to 1..=128).
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.v6_prefix = bits.clamp(1, 128);
        self
    }

    #[inline]
    pub(crate) fn of(self, extensions: &http::Extensions) -> Option<IpAddr> {
        let ip = extensions.get::<ClientIp>()?.ip();
        Some(match ip {
            IpAddr::V6(v6) if self.v6_prefix < 128 => {
                let mask = u128::MAX << (128 - u32::from(self.v6_prefix));
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
            other => other,
        })
    }
}

impl KeyExtractor for ClientIpKey {
    fn extract(&self, parts: &Parts) -> Option<Key> {
        self.of(&parts.extensions).map(Key::Ip)
    }
}

/// Tells who made a request, for per-user policies. The application
/// implements it over whatever its authentication layer put in the
/// request's extensions.
///
/// # Example
///
/// ```
/// use std::borrow::Cow;
/// use http::request::Parts;
/// use rampart_ratelimit::{Key, KeyExtractor, PrincipalExtractor, PrincipalKey};
///
/// #[derive(Clone)]
/// struct User { id: u64 }
///
/// #[derive(Debug)]
/// struct ByUser;
///
/// impl PrincipalExtractor for ByUser {
///     fn principal<'a>(&self, parts: &'a Parts) -> Option<Cow<'a, str>> {
///         parts.extensions.get::<User>().map(|u| Cow::Owned(u.id.to_string()))
///     }
/// }
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(User { id: 42 });
/// let (parts, ()) = request.into_parts();
/// assert_eq!(PrincipalKey::new(ByUser).extract(&parts), Some(Key::text("42")));
/// ```
pub trait PrincipalExtractor: fmt::Debug + Send + Sync + 'static {
    /// The principal's stable id, or `None` for an anonymous request.
    fn principal<'a>(&self, parts: &'a Parts) -> Option<Cow<'a, str>>;
}

/// Keys on the principal a [`PrincipalExtractor`] finds. Anonymous requests
/// are not limited by this policy (give them a per-IP policy as well).
#[derive(Debug, Clone)]
#[must_use]
pub struct PrincipalKey<P> {
    principal: P,
}

impl<P: PrincipalExtractor> PrincipalKey<P> {
    /// Keys on `principal`'s answer.
    pub fn new(principal: P) -> Self {
        Self { principal }
    }
}

impl<P: PrincipalExtractor> KeyExtractor for PrincipalKey<P> {
    fn extract(&self, parts: &Parts) -> Option<Key> {
        self.principal
            .principal(parts)
            .map(|p| Key::Text(Arc::from(p.as_ref())))
    }
}

/// Keys on the client address together with a field the inner extractor
/// finds, such as the login name a client submits: each (address, name) pair
/// gets its own quota. A login policy keyed on the address alone would lock
/// out every user behind one NAT after a few typos; keyed on the name alone
/// it would let anyone lock a victim out.
///
/// A request with no address or no field is not limited by this policy.
///
/// # Example
///
/// ```
/// use rampart_core::{ClientIp, ClientIpSource};
/// use rampart_ratelimit::{ClientIpAnd, FnKey, Key, KeyExtractor};
///
/// let login = ClientIpAnd::new(FnKey::new(|parts| {
///     parts.headers.get("x-login")?.to_str().ok().map(Key::text)
/// }));
/// let mut request = http::Request::builder().header("x-login", "ada").body(()).unwrap();
/// request.extensions_mut().insert(ClientIp::new("192.0.2.1".parse().unwrap(), ClientIpSource::Peer));
/// let (parts, ()) = request.into_parts();
/// assert_eq!(login.extract(&parts), Some(Key::ip_and("192.0.2.1".parse().unwrap(), "ada")));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientIpAnd<E> {
    ip: ClientIpKey,
    field: E,
}

impl<E: KeyExtractor> ClientIpAnd<E> {
    /// The client address (IPv6 by `/64`) combined with `field`'s key.
    pub fn new(field: E) -> Self {
        Self {
            ip: ClientIpKey::new(),
            field,
        }
    }
}

impl<E: KeyExtractor> KeyExtractor for ClientIpAnd<E> {
    fn extract(&self, parts: &Parts) -> Option<Key> {
        let ip = self.ip.of(&parts.extensions)?;
        let text: Arc<str> = match self.field.extract(parts)? {
            Key::Text(text) => text,
            other => Arc::from(other.to_string()),
        };
        Some(Key::IpAnd(ip, text))
    }
}

/// A key extractor from a function.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::{FnKey, Key, KeyExtractor};
///
/// let by_route = FnKey::new(|parts| Some(Key::text(parts.uri.path())));
/// let (parts, ()) = http::Request::get("/a").body(()).unwrap().into_parts();
/// assert_eq!(by_route.extract(&parts), Some(Key::text("/a")));
/// ```
#[derive(Clone)]
#[must_use]
pub struct FnKey<F> {
    f: F,
}

impl<F> FnKey<F>
where
    F: Fn(&Parts) -> Option<Key> + Send + Sync + 'static,
{
    /// Keys on what `f` returns.
    pub fn new(f: F) -> Self {
        Self { f }
    }
}

impl<F> fmt::Debug for FnKey<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnKey(..)")
    }
}

impl<F> KeyExtractor for FnKey<F>
where
    F: Fn(&Parts) -> Option<Key> + Send + Sync + 'static,
{
    fn extract(&self, parts: &Parts) -> Option<Key> {
        (self.f)(parts)
    }
}

#[cfg(test)]
mod tests {
    use rampart_core::ClientIpSource;

    use super::*;

    fn parts_with_ip(ip: Option<&str>) -> Parts {
        let mut request = http::Request::builder()
            .header("x-forwarded-for", "6.6.6.6")
            .header("forwarded", "for=6.6.6.6")
            .body(())
            .unwrap();
        if let Some(ip) = ip {
            request
                .extensions_mut()
                .insert(ClientIp::new(ip.parse().unwrap(), ClientIpSource::Peer));
        }
        request.into_parts().0
    }

    #[test]
    fn client_ip_key_ignores_forwarding_headers() {
        let parts = parts_with_ip(Some("198.51.100.9"));
        assert_eq!(
            ClientIpKey::new().extract(&parts),
            Some(Key::ip("198.51.100.9".parse().unwrap()))
        );
    }

    #[test]
    fn missing_client_ip_is_no_key() {
        let parts = parts_with_ip(None);
        assert_eq!(ClientIpKey::new().extract(&parts), None);
        assert_eq!(
            ClientIpAnd::new(FnKey::new(|_| Some(Key::text("x")))).extract(&parts),
            None
        );
    }

    #[test]
    fn ipv6_prefixes() {
        let parts = parts_with_ip(Some("2001:db8:1:2:3:4:5:6"));
        let key = |bits| ClientIpKey::new().ipv6_prefix(bits).extract(&parts);
        assert_eq!(key(64), Some(Key::ip("2001:db8:1:2::".parse().unwrap())));
        assert_eq!(key(48), Some(Key::ip("2001:db8:1::".parse().unwrap())));
        assert_eq!(key(0), Some(Key::ip("::".parse().unwrap())));
        assert_eq!(
            key(200),
            Some(Key::ip("2001:db8:1:2:3:4:5:6".parse().unwrap()))
        );
    }

    #[test]
    fn mapped_ipv4_is_keyed_as_ipv4() {
        let parts = parts_with_ip(Some("::ffff:192.0.2.1"));
        assert_eq!(
            ClientIpKey::new().extract(&parts),
            Some(Key::ip("192.0.2.1".parse().unwrap()))
        );
    }

    #[test]
    fn composite_of_non_text_field() {
        let parts = parts_with_ip(Some("192.0.2.1"));
        let key = ClientIpAnd::new(ClientIpKey::new()).extract(&parts);
        assert_eq!(key.unwrap().to_string(), "192.0.2.1|192.0.2.1");
    }
}
