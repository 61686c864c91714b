//! The layer: a built, shared policy.

use std::sync::Arc;

use rampart_core::TrustedProxies;
use tower_layer::Layer;

use crate::{
    SecurityHeaders, SecurityHeadersConfigError, SecurityHeadersService,
    compiled::{Compiled, Routes, Selected},
};

/// Everything the service needs, built once and shared by every clone.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) base: Compiled,
    pub(crate) routes: Routes,
    pub(crate) trusted_proxies: TrustedProxies,
}

impl Shared {
    #[inline]
    pub(crate) fn compiled(&self, selected: Selected) -> Option<&Compiled> {
        match selected {
            Selected::Base => Some(&self.base),
            Selected::Route(i) => self.routes.get(i),
            Selected::Exempt => None,
        }
    }
}

/// Applies a [`SecurityHeaders`] set to every response. Cheap to clone: the
/// rendered headers are shared.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use rampart_headers::SecurityHeadersLayer;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = ServiceBuilder::new()
///     .layer(SecurityHeadersLayer::api())
///     .service(service_fn(|_req: Request<()>| async {
///         Ok::<_, Infallible>(Response::new(String::from("{}")))
///     }));
///
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.headers()["x-content-type-options"], "nosniff");
/// assert_eq!(
///     response.headers()["content-security-policy"],
///     "default-src 'none'; frame-ancestors 'none'"
/// );
/// // A plain-HTTP request: no HSTS.
/// assert!(response.headers().get("strict-transport-security").is_none());
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SecurityHeadersLayer {
    pub(crate) shared: Arc<Shared>,
}

impl SecurityHeadersLayer {
    /// Checks `policy` and renders every header.
    pub fn new(policy: SecurityHeaders) -> Result<Self, SecurityHeadersConfigError> {
        let shared = Shared {
            base: Compiled::new(&policy)?,
            routes: Routes::new(&policy.routes)?,
            trusted_proxies: policy.trusted_proxies,
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// The [`SecurityHeaders::api`] preset.
    pub fn api() -> Self {
        Self::preset(SecurityHeaders::api())
    }

    /// The [`SecurityHeaders::html_app`] preset.
    pub fn html_app() -> Self {
        Self::preset(SecurityHeaders::html_app())
    }

    fn preset(policy: SecurityHeaders) -> Self {
        // A preset has no routes and a valid HSTS (the tests build both), so
        // it cannot fail; should it ever, the same headers minus HSTS stand in.
        let base = Compiled::new(&policy).or_else(|_| {
            Compiled::new(
                &policy
                    .clone()
                    .without(&http::header::STRICT_TRANSPORT_SECURITY),
            )
        });
        match base {
            Ok(base) => Self {
                shared: Arc::new(Shared {
                    base,
                    routes: Routes::empty(),
                    trusted_proxies: policy.trusted_proxies,
                }),
            },
            Err(_) => Self::preset(SecurityHeaders::new()),
        }
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeadersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeadersService::new(inner, self)
    }
}
