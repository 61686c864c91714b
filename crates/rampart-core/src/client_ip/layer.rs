//! [`ClientIpLayer`]: the configuration, applied to a service.

use tower_layer::Layer;

use super::{
    ClientIpConfig, ClientIpConfigError, ClientIpResolver, ClientIpService, ForwardedHeader,
    TrustedProxies,
};

/// Applies [`ClientIpService`] to a service: every request that has a peer
/// address gets a [`ClientIp`](crate::ClientIp) in its extensions.
///
/// The default trusts no proxy, so the client is always the peer. Tell it
/// which proxies stand in front of the service with
/// [`trusted_proxies`](Self::trusted_proxies), and which header they write
/// with [`header`](Self::header); or read both from the environment with
/// [`from_env`](Self::from_env).
///
/// # Example
///
/// ```
/// use rampart_core::{ClientIpLayer, ForwardedHeader, TrustedProxies};
///
/// let layer = ClientIpLayer::new()
///     .trusted_proxies("10.0.0.0/8, fd00::/8".parse::<TrustedProxies>()?)
///     .header(ForwardedHeader::Forwarded);
/// assert_eq!(layer.resolver().header(), ForwardedHeader::Forwarded);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ClientIpLayer {
    resolver: ClientIpResolver,
}

impl ClientIpLayer {
    /// Trusts no proxy: the client is the peer.
    ///
    /// ```
    /// let layer = rampart_core::ClientIpLayer::new();
    /// assert!(layer.resolver().trusted_proxies().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Believes the forwarding header of a peer inside `proxies`.
    ///
    /// ```
    /// use rampart_core::{ClientIpLayer, TrustedProxies};
    ///
    /// let layer = ClientIpLayer::new().trusted_proxies(TrustedProxies::loopback());
    /// assert!(layer.resolver().trusted_proxies().contains("127.0.0.1".parse()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trusted_proxies(self, proxies: impl Into<TrustedProxies>) -> Self {
        Self {
            resolver: ClientIpResolver::new(proxies.into(), self.resolver.header()),
        }
    }

    /// The header the trusted proxies write: [`X-Forwarded-For`] (default) or
    /// [`Forwarded`] (RFC 7239). Never both, see [`ForwardedHeader`].
    ///
    /// [`X-Forwarded-For`]: https://developer.mozilla.org/docs/Web/HTTP/Reference/Headers/X-Forwarded-For
    /// [`Forwarded`]: https://www.rfc-editor.org/rfc/rfc7239
    ///
    /// ```
    /// use rampart_core::{ClientIpLayer, ForwardedHeader};
    ///
    /// let layer = ClientIpLayer::new().header(ForwardedHeader::Forwarded);
    /// assert_eq!(layer.resolver().header(), ForwardedHeader::Forwarded);
    /// ```
    pub fn header(self, header: ForwardedHeader) -> Self {
        Self {
            resolver: ClientIpResolver::new(self.resolver.trusted_proxies().clone(), header),
        }
    }

    /// Configured from `TRUSTED_PROXIES` and `CLIENT_IP_HEADER`, see
    /// [`ClientIpConfig::from_env`].
    ///
    /// ```no_run
    /// // TRUSTED_PROXIES=10.0.0.0/8 CLIENT_IP_HEADER=x-forwarded-for
    /// let layer = rampart_core::ClientIpLayer::from_env()?;
    /// # Ok::<(), rampart_core::ClientIpConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, ClientIpConfigError> {
        ClientIpConfig::from_env().map(Self::from_config)
    }

    /// Configured from `config` (a serde struct with the `serde` feature).
    ///
    /// ```
    /// use rampart_core::{ClientIpConfig, ClientIpLayer};
    ///
    /// let layer = ClientIpLayer::from_config(ClientIpConfig::default());
    /// assert!(layer.resolver().trusted_proxies().is_empty());
    /// ```
    pub fn from_config(config: ClientIpConfig) -> Self {
        Self::from(ClientIpResolver::new(config.trusted_proxies, config.header))
    }

    /// The resolver that the services of this layer share.
    ///
    /// ```
    /// let layer = rampart_core::ClientIpLayer::new();
    /// let client = layer.resolver().resolve("192.0.2.1".parse()?, &http::HeaderMap::new());
    /// assert_eq!(client.ip().to_string(), "192.0.2.1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolver(&self) -> &ClientIpResolver {
        &self.resolver
    }
}

impl From<ClientIpResolver> for ClientIpLayer {
    fn from(resolver: ClientIpResolver) -> Self {
        Self { resolver }
    }
}

impl<S> Layer<S> for ClientIpLayer {
    type Service = ClientIpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientIpService::new(inner, self)
    }
}
