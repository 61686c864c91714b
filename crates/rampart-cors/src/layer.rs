//! The layer: a validated, compiled policy shared by every service it makes.

use std::sync::{Arc, atomic::AtomicBool};

use arc_swap::ArcSwap;
use tower_layer::Layer;

use crate::{CorsConfig, CorsConfigError, CorsHandle, CorsService, CorsStats, policy::Policy};

/// What every clone of the layer and of its services shares: the current
/// policy (swapped whole on reconfiguration) and the debug switch.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) policy: ArcSwap<Policy>,
    pub(crate) debug: AtomicBool,
    pub(crate) stats: CorsStats,
}

/// Layer that applies an allow-list CORS policy to a service: answers
/// preflights itself and adds CORS headers to every other response.
///
/// Built only from a [`CorsConfig`] that passed validation; clones, and the
/// services made from them, share one policy that a [`CorsHandle`] can replace
/// at run time.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, header};
/// use rampart_cors::{CorsConfig, CorsLayer};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cors = CorsLayer::new(&CorsConfig::new().allow_origin("https://app.example.com")).unwrap();
/// let service = ServiceBuilder::new()
///     .layer(cors)
///     .service(service_fn(|_req: Request<String>| async {
///         Ok::<_, Infallible>(Response::new(String::from("hello")))
///     }));
///
/// let request = Request::get("/")
///     .header(header::ORIGIN, "https://app.example.com")
///     .body(String::new())
///     .unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(
///     response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
///     "https://app.example.com"
/// );
/// assert_eq!(response.headers()[header::VARY], "Origin");
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CorsLayer {
    pub(crate) shared: Arc<Shared>,
}

impl CorsLayer {
    /// Validates `config` and compiles it; the error lists every problem.
    pub fn new(config: &CorsConfig) -> Result<Self, CorsConfigError> {
        let policy = Policy::compile(config)?;
        Ok(Self {
            shared: Arc::new(Shared {
                policy: ArcSwap::from_pointee(policy),
                debug: AtomicBool::new(config.debug),
                stats: CorsStats::default(),
            }),
        })
    }

    /// Reads [`CorsConfig::from_env`] and builds the layer; the error lists every
    /// problem of the first step that fails.
    ///
    /// ```no_run
    /// // CORS_ALLOWED_ORIGINS=https://app.example.com,http://localhost:5173
    /// let cors = rampart_cors::CorsLayer::from_env().expect("CORS configuration");
    /// # let _ = cors;
    /// ```
    pub fn from_env() -> Result<Self, CorsConfigError> {
        Self::new(&CorsConfig::from_env()?)
    }

    /// A handle that reconfigures this layer, and every service it made, at run time.
    pub fn handle(&self) -> CorsHandle {
        CorsHandle::new(Arc::clone(&self.shared))
    }

    /// The counters of this layer's decisions, for a metrics exporter.
    pub fn stats(&self) -> CorsStats {
        self.shared.stats.clone()
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsService::new(inner, self)
    }
}
