//! Middleware which resolves the client's IP address once per request, from
//! the peer address and, only behind trusted proxies, from `Forwarded` or
//! `X-Forwarded-For`.
//!
//! (Placeholder: the resolver, layer and service are being written.)

mod extension;
mod peer;
mod trusted_proxies;

pub use self::{
    extension::{ClientIp, ClientIpSource},
    peer::{normalize_ip, peer_addr},
    trusted_proxies::{TrustedProxies, TrustedProxiesError},
};
