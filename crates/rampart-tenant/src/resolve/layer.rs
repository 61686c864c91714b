//! The layer: the sources, the cached lookup and the counters that every
//! service it makes shares.

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use super::{TenantLayerBuilder, TenantService, source::Source};
use crate::{Limits, TenantId, TenantStats, lookup::CachedLookup};

pub(crate) struct Shared {
    pub(crate) sources: Box<[Source]>,
    pub(crate) required: bool,
    pub(crate) lookup: Option<CachedLookup>,
    pub(crate) default_limits: Arc<Limits>,
    pub(crate) stats: Arc<TenantStats>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantLayer")
            .field("sources", &self.sources)
            .field("required", &self.required)
            .field("lookup", &self.lookup)
            .field("default_limits", &self.default_limits)
            .finish_non_exhaustive()
    }
}

/// Resolves each request's [`Tenant`](crate::Tenant) and makes it
/// reachable below: in the request's extensions (and, with the `axum`
/// feature, as an extractor), as the [current tenant](crate::current_tenant)
/// of the task while the inner service's future runs (where handlers run;
/// code in a layer's `call` reads the extension), and as the `tenant` field
/// of a `tenant` span entered around it (when a subscriber wants INFO).
///
/// - Sources, first match wins: the app's principal, a subdomain, a header
///   from a trusted proxy, a path prefix.
/// - No tenant: 401 problem+json (or through without one, when
///   [`optional`](TenantLayerBuilder::optional)).
/// - A malformed id from the subdomain, header or path: 400.
/// - The lookup does not know the tenant: 404; the lookup fails: 503.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
///
/// use http::{Request, Response, StatusCode};
/// use rampart_tenant::{Tenant, TenantLayer, TenantPrincipal, current_tenant};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// #[derive(Clone)]
/// struct Principal {
///     org_id: String,
/// }
/// impl TenantPrincipal for Principal {
///     fn tenant_id(&self) -> Option<&str> {
///         Some(&self.org_id)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = TenantLayer::builder()
///     .from_principal::<Principal>()
///     .from_path_prefix("/t/")
///     .build()
///     .unwrap();
/// let service = ServiceBuilder::new().layer(layer).service(service_fn(
///     |request: Request<()>| async move {
///         let from_extension = request.extensions().get::<Tenant>().unwrap().id().to_string();
///         let from_task = current_tenant().unwrap().id().to_string();
///         assert_eq!(from_extension, from_task);
///         Ok::<_, Infallible>(Response::new(from_task))
///     },
/// ));
///
/// let mut request = Request::new(());
/// request.extensions_mut().insert(Principal { org_id: "acme".into() });
/// let response = service.clone().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
///
/// let request = Request::get("/t/beta/calls").body(()).unwrap();
/// assert_eq!(service.clone().oneshot(request).await.unwrap().status(), StatusCode::OK);
///
/// let anonymous = Request::get("/calls").body(()).unwrap();
/// let response = service.oneshot(anonymous).await.unwrap();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TenantLayer {
    pub(crate) shared: Arc<Shared>,
}

impl TenantLayer {
    /// A builder with no source, tenant required, no lookup.
    pub fn builder() -> TenantLayerBuilder {
        TenantLayerBuilder::new()
    }

    /// The counters of this layer, shared by its services and tenants.
    pub fn stats(&self) -> Arc<TenantStats> {
        Arc::clone(&self.shared.stats)
    }

    /// Forgets the cached lookup answer for `id`, so the next request asks
    /// the app again (call it after changing a tenant's quotas).
    ///
    /// ```
    /// let layer = rampart_tenant::TenantLayer::builder().from_path_prefix("/t/").build().unwrap();
    /// layer.invalidate(&"acme".parse().unwrap());
    /// ```
    pub fn invalidate(&self, id: &TenantId) {
        if let Some(lookup) = &self.shared.lookup {
            lookup.invalidate(id);
        }
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService::new(inner, self)
    }
}
