//! Middleware which resolves the client's IP address once per request, from
//! the peer address and, only behind trusted proxies, from `Forwarded` or
//! `X-Forwarded-For`, and stores it as a [`ClientIp`] in the request's
//! extensions.
//!
//! Layers below it (rate limiting per address, logging, tenant rules) and
//! handlers read that one value instead of each parsing headers their own
//! way. How the address is chosen is spelled out on [`ClientIpResolver`]; in
//! short: a peer that is not a trusted proxy is the client whatever headers
//! it sends; behind trusted proxies, the header is walked from the right to
//! the first address that is not one of them; anything doubtful resolves to
//! the peer.
//!
//! The peer address comes from the request's extensions: a
//! [`SocketAddr`](std::net::SocketAddr), or with the `axum` feature axum's
//! `ConnectInfo<SocketAddr>`. A request without one gets no `ClientIp`.
//!
//! # Example
//!
//! ```
//! use std::{convert::Infallible, net::SocketAddr};
//!
//! use http::{Request, Response};
//! use rampart_core::{ClientIp, ClientIpLayer, ClientIpSource, TrustedProxies};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = ServiceBuilder::new()
//!     .layer(ClientIpLayer::new().trusted_proxies("10.0.0.0/8".parse::<TrustedProxies>()?))
//!     .service(service_fn(|request: Request<()>| async move {
//!         let client = request.extensions().get::<ClientIp>().copied();
//!         Ok::<_, Infallible>(Response::new(client))
//!     }));
//!
//! // A request that came through our proxy at 10.0.0.2.
//! let mut request = Request::new(());
//! request.headers_mut().insert("x-forwarded-for", "203.0.113.7".parse()?);
//! request.extensions_mut().insert("10.0.0.2:41000".parse::<SocketAddr>()?);
//!
//! let client = service.clone().oneshot(request).await?.into_body().unwrap();
//! assert_eq!(client.ip(), "203.0.113.7".parse::<std::net::IpAddr>()?);
//! assert_eq!(client.source(), ClientIpSource::XForwardedFor);
//!
//! // The same header from anywhere else changes nothing.
//! let mut request = Request::new(());
//! request.headers_mut().insert("x-forwarded-for", "203.0.113.7".parse()?);
//! request.extensions_mut().insert("198.51.100.9:41000".parse::<SocketAddr>()?);
//!
//! let client = service.oneshot(request).await?.into_body().unwrap();
//! assert_eq!(client.ip(), "198.51.100.9".parse::<std::net::IpAddr>()?);
//! assert_eq!(client.source(), ClientIpSource::Peer);
//! # Ok(())
//! # }
//! ```

mod config;
mod extension;
mod forwarded;
mod hop;
mod layer;
mod peer;
mod resolver;
mod service;
mod trusted_proxies;
mod x_forwarded_for;

#[cfg(test)]
mod tests;

pub use self::{
    config::{ClientIpConfig, ClientIpConfigError, ForwardedHeader, ParseForwardedHeaderError},
    extension::{ClientIp, ClientIpSource},
    layer::ClientIpLayer,
    peer::{normalize_ip, peer_addr},
    resolver::ClientIpResolver,
    service::ClientIpService,
    trusted_proxies::{TrustedProxies, TrustedProxiesError},
};
