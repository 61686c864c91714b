//! [`ClientIpService`]: resolves the client address of each request.

use std::task::{Context, Poll};

use tower_service::Service;

use super::{ClientIpLayer, ClientIpResolver};

/// Middleware which puts the request's [`ClientIp`](crate::ClientIp) in its
/// extensions, resolved by a [`ClientIpResolver`], and calls the inner
/// service.
///
/// It never rejects a request, so its future is the inner service's. A
/// request without a peer address (see [`peer_addr`](crate::peer_addr))
/// passes through without a `ClientIp`.
///
/// See the [module docs](crate::client_ip) for an example.
#[derive(Debug, Clone)]
pub struct ClientIpService<S> {
    inner: S,
    resolver: ClientIpResolver,
}

impl<S> ClientIpService<S> {
    /// Wraps `inner`, resolving as `layer` does; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    ///
    /// ```
    /// use rampart_core::{ClientIpLayer, ClientIpService};
    ///
    /// let service = ClientIpService::new(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
    /// }), &ClientIpLayer::new());
    /// # let _ = service;
    /// ```
    pub fn new(inner: S, layer: &ClientIpLayer) -> Self {
        Self {
            inner,
            resolver: layer.resolver().clone(),
        }
    }

    /// A [`ClientIpLayer`] that resolves with `resolver`.
    ///
    /// ```
    /// use rampart_core::{ClientIpResolver, ClientIpService};
    ///
    /// let layer = ClientIpService::<()>::layer(ClientIpResolver::default());
    /// # let _ = layer;
    /// ```
    pub fn layer(resolver: ClientIpResolver) -> ClientIpLayer {
        ClientIpLayer::from(resolver)
    }

    /// The inner service.
    ///
    /// ```
    /// use rampart_core::{ClientIpLayer, ClientIpService};
    ///
    /// let service = ClientIpService::new(7, &ClientIpLayer::new());
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use rampart_core::{ClientIpLayer, ClientIpService};
    ///
    /// let mut service = ClientIpService::new(7, &ClientIpLayer::new());
    /// *service.get_mut() = 8;
    /// assert_eq!(service.into_inner(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// use rampart_core::{ClientIpLayer, ClientIpService};
    ///
    /// let service = ClientIpService::new(7, &ClientIpLayer::new());
    /// assert_eq!(service.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The resolver.
    ///
    /// ```
    /// use rampart_core::{ClientIpLayer, ClientIpService};
    ///
    /// let service = ClientIpService::new((), &ClientIpLayer::new());
    /// assert!(service.resolver().trusted_proxies().is_empty());
    /// ```
    pub fn resolver(&self) -> &ClientIpResolver {
        &self.resolver
    }
}

impl<S, B> Service<http::Request<B>> for ClientIpService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(client) = self.resolver.resolve_request(&request) {
            // Replaces any earlier value: this layer's resolution is the one
            // configured for the layers below it.
            request.extensions_mut().insert(client);
        }
        self.inner.call(request)
    }
}
