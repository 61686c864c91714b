//! Counters of the layer's decisions: plain atomics that a metrics exporter
//! (rampart-metrics, or any other) reads, with no dependency either way.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// How many preflights a [`CorsLayer`](crate::CorsLayer) answered and refused,
/// and how many other cross-origin requests came from an origin it does not
/// allow. Shared by every clone of the layer and of its services; survives a
/// [`CorsHandle::reconfigure`](crate::CorsHandle::reconfigure). Cheap to clone.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Method, Request, Response, header};
/// use rampart_cors::{CorsConfig, CorsLayer};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = CorsLayer::new(&CorsConfig::new().allow_origin("https://app.example.com")).unwrap();
/// let stats = layer.stats();
/// let service = layer.layer(service_fn(|_req: Request<String>| async {
///     Ok::<_, Infallible>(Response::new(String::new()))
/// }));
/// let request = |method: Method, origin: &str| {
///     Request::builder()
///         .method(method)
///         .header(header::ORIGIN, origin)
///         .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
///         .body(String::new())
///         .unwrap()
/// };
/// for (method, origin) in [
///     (Method::OPTIONS, "https://app.example.com"),
///     (Method::OPTIONS, "https://evil.example"),
///     (Method::GET, "https://evil.example"),
///     (Method::GET, "https://app.example.com"),
/// ] {
///     service.clone().oneshot(request(method, origin)).await.unwrap();
/// }
/// assert_eq!(stats.preflights_allowed(), 1);
/// assert_eq!(stats.preflights_rejected(), 1);
/// assert_eq!(stats.requests_disallowed(), 1);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct CorsStats {
    counters: Arc<[AtomicU64; 3]>,
}

const PREFLIGHT_ALLOWED: usize = 0;
const PREFLIGHT_REJECTED: usize = 1;
const DISALLOWED: usize = 2;

impl CorsStats {
    pub(crate) fn preflight(&self, allowed: bool) {
        let slot = if allowed {
            PREFLIGHT_ALLOWED
        } else {
            PREFLIGHT_REJECTED
        };
        self.counters[slot].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn disallowed(&self) {
        self.counters[DISALLOWED].fetch_add(1, Ordering::Relaxed);
    }

    /// Preflights answered with 204: the browser may send the request.
    pub fn preflights_allowed(&self) -> u64 {
        self.counters[PREFLIGHT_ALLOWED].load(Ordering::Relaxed)
    }

    /// Preflights refused with 403.
    pub fn preflights_rejected(&self) -> u64 {
        self.counters[PREFLIGHT_REJECTED].load(Ordering::Relaxed)
    }

    /// Requests other than preflights whose `Origin` is not allowed: passed on
    /// without CORS headers, so the browser hides the response from the page.
    pub fn requests_disallowed(&self) -> u64 {
        self.counters[DISALLOWED].load(Ordering::Relaxed)
    }
}
