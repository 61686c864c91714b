//! The layer: validated routes, the store and the scope extractors, shared
//! by every service it makes.

use std::{borrow::Cow, fmt, sync::Arc};

use tower_layer::Layer;

use crate::{
    Cache, CacheConfig, CacheConfigError, CacheService, CacheStats, CacheStore,
    flight::Flights,
    layer::{entry::CachedResponse, route::CompiledRoute},
};

/// Reads a part of the key (tenant, principal) from the request's
/// extensions: borrowed where it can be, so that a hit allocates nothing
/// for it.
pub(crate) type Extractor =
    Arc<dyn for<'a> Fn(&'a http::Extensions) -> Option<Cow<'a, str>> + Send + Sync>;

/// What every clone of the layer and of its services shares.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn CacheStore>,
    pub(crate) routes: Vec<CompiledRoute>,
    pub(crate) enabled: bool,
    pub(crate) max_body: usize,
    pub(crate) tenant: Option<Extractor>,
    pub(crate) principal: Option<Extractor>,
    pub(crate) flights: Arc<Flights<Option<Arc<CachedResponse>>>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("store", &self.store)
            .field("routes", &self.routes)
            .field("enabled", &self.enabled)
            .field("max_body", &self.max_body)
            .field("tenant", &self.tenant.is_some())
            .field("principal", &self.principal.is_some())
            .finish_non_exhaustive()
    }
}

/// Layer that caches the responses of the routes a [`CacheConfig`] lists,
/// over any `Service<Request<B>>`; see the [crate docs](crate).
///
/// Built by [`CacheLayer::builder`]; clones, and the services made from
/// them, share the store, the routes and the single-flight table.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, header};
/// use rampart_cache::{CacheConfig, CacheLayer, CacheRoute, MemoryCacheStore};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = CacheLayer::builder(MemoryCacheStore::new(64 << 20))
///     .config(CacheConfig::new().route(CacheRoute::new("plans", "/plans")))
///     .build()
///     .unwrap();
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|_req: Request<String>| async {
///         Ok::<_, Infallible>(Response::new(String::from("[\"basic\",\"pro\"]")))
///     }));
///
/// let get = || Request::get("/plans").body(String::new()).unwrap();
/// let first = service.clone().oneshot(get()).await.unwrap();
/// assert_eq!(first.headers()["cache-status"], "rampart; fwd=uri-miss; stored");
/// let second = service.oneshot(get()).await.unwrap();
/// assert!(second.headers()["cache-status"].to_str().unwrap().starts_with("rampart; hit"));
/// assert_eq!(second.headers()[header::AGE], "0");
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheLayer {
    pub(crate) shared: Arc<Shared>,
}

/// Builds a [`CacheLayer`]: the store, the configuration, and where the
/// request's tenant and principal are read.
#[must_use]
pub struct CacheLayerBuilder {
    store: Arc<dyn CacheStore>,
    config: CacheConfig,
    tenant: Option<Extractor>,
    principal: Option<Extractor>,
}

impl fmt::Debug for CacheLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayerBuilder")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CacheLayer {
    /// A builder over `store`, with [`CacheConfig::default`] (no routes).
    pub fn builder(store: impl CacheStore) -> CacheLayerBuilder {
        Self::builder_shared(Arc::new(store))
    }

    /// A builder over a store shared with a [`Cache`] or another layer.
    pub fn builder_shared(store: Arc<dyn CacheStore>) -> CacheLayerBuilder {
        let builder = CacheLayerBuilder {
            store,
            config: CacheConfig::default(),
            tenant: None,
            principal: None,
        };
        #[cfg(feature = "tenant")]
        let builder = builder.tenant_from_extensions();
        builder
    }

    /// The cache API over the same store: its
    /// [`invalidate_tags`](Cache::invalidate_tags) drops the cached
    /// responses of the routes that carry those tags, in every replica.
    /// Hand it to the handlers that write.
    pub fn handle(&self) -> Cache {
        Cache::from_arc(Arc::clone(&self.shared.store))
    }

    /// Whether `path` matches one of the configured routes (method and
    /// request headers aside): an app that treats those requests apart
    /// (reads them from its primary database, say) asks the layer rather
    /// than matching the templates again.
    pub fn caches_path(&self, path: &str) -> bool {
        self.shared
            .routes
            .iter()
            .any(|route| route.matches(path).is_some())
    }

    /// The counters: one namespace per route.
    pub fn stats(&self) -> CacheStats {
        self.shared.store.stats()
    }
}

impl CacheLayerBuilder {
    /// The routes and limits (validated by [`build`](Self::build)).
    pub fn config(mut self, config: CacheConfig) -> Self {
        self.config = config;
        self
    }

    /// Reads the request's tenant (an id) from its extensions. Every key
    /// holds it; [`CacheScope::Tenant`](crate::CacheScope::Tenant) routes
    /// bypass requests without one.
    pub fn tenant<F>(mut self, extract: F) -> Self
    where
        F: for<'a> Fn(&'a http::Extensions) -> Option<Cow<'a, str>> + Send + Sync + 'static,
    {
        self.tenant = Some(Arc::new(extract));
        self
    }

    /// Reads the tenant from the `rampart_tenant::Tenant` that
    /// `TenantLayer` puts in the extensions (the default with the `tenant`
    /// feature).
    #[cfg(feature = "tenant")]
    pub fn tenant_from_extensions(self) -> Self {
        self.tenant(|extensions| {
            extensions
                .get::<rampart_tenant::Tenant>()
                .map(|tenant| Cow::Borrowed(tenant.id().as_str()))
        })
    }

    /// Reads the request's principal (a user id, say) from its extensions,
    /// where the app's authentication put it.
    /// [`CacheScope::Principal`](crate::CacheScope::Principal) routes key
    /// on it and bypass requests without one.
    pub fn principal<F>(mut self, extract: F) -> Self
    where
        F: for<'a> Fn(&'a http::Extensions) -> Option<Cow<'a, str>> + Send + Sync + 'static,
    {
        self.principal = Some(Arc::new(extract));
        self
    }

    /// Validates the configuration; the error lists every problem.
    pub fn build(self) -> Result<CacheLayer, CacheConfigError> {
        let mut routes = self.config.compile()?;
        let stats = self.store.stats();
        for route in &mut routes {
            route.counters = Some(stats.namespace(&route.name));
        }
        Ok(CacheLayer {
            shared: Arc::new(Shared {
                store: self.store,
                routes,
                enabled: self.config.enabled,
                max_body: self.config.max_body_bytes,
                tenant: self.tenant,
                principal: self.principal,
                flights: Arc::default(),
            }),
        })
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService::from_shared(inner, Arc::clone(&self.shared))
    }
}
