//! Reconfiguration at run time: one atomic pointer swap, so a request is
//! decided wholly by the old policy or wholly by the new one.

use std::sync::{Arc, atomic::Ordering};

use crate::{CorsConfig, CorsConfigError, layer::Shared, policy::Policy};

/// Changes the policy of a [`CorsLayer`](crate::CorsLayer) and of every
/// service made from it, without a restart. Cheap to clone.
///
/// A request loads the policy once, in `call`: requests in flight finish under
/// the policy they started with; no lock is taken on the request path.
///
/// # Example
///
/// ```
/// use rampart_cors::{CorsConfig, CorsLayer};
///
/// let layer = CorsLayer::new(&CorsConfig::new().allow_origin("https://a.example.com")).unwrap();
/// let handle = layer.handle();
///
/// // A bad configuration is refused and the running one stays.
/// assert!(handle.reconfigure(&CorsConfig::new().allow_origin("https://b.example.com/")).is_err());
/// handle.reconfigure(&CorsConfig::new().allow_origin("https://b.example.com")).unwrap();
///
/// handle.set_debug(true);
/// assert!(handle.is_debug());
/// ```
#[derive(Debug, Clone)]
pub struct CorsHandle {
    shared: Arc<Shared>,
}

impl CorsHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Validates `config` and, only if it is valid, makes it the policy of
    /// every following request, debug switch included.
    pub fn reconfigure(&self, config: &CorsConfig) -> Result<(), CorsConfigError> {
        let policy = Policy::compile(config)?;
        self.shared.policy.store(Arc::new(policy));
        self.shared.debug.store(config.debug, Ordering::Relaxed);
        Ok(())
    }

    /// Turns the explanation of rejected preflights on or off.
    pub fn set_debug(&self, debug: bool) {
        self.shared.debug.store(debug, Ordering::Relaxed);
    }

    /// Whether rejected preflights are explained.
    pub fn is_debug(&self) -> bool {
        self.shared.debug.load(Ordering::Relaxed)
    }
}
