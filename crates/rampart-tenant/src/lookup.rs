//! The app's answer to "does this tenant exist, and what may it use?",
//! cached.

use std::{error::Error, fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use crate::{Limits, TenantId};

/// The future a [`TenantLookup`] returns.
pub type LookupFuture = Pin<Box<dyn Future<Output = Result<Option<Limits>, LookupError>> + Send>>;

/// Tells the layer whether a tenant exists (`Some`, with its quotas) or not
/// (`None`: 404). Answers are cached (see
/// [`TenantLayerBuilder::cache`](crate::TenantLayerBuilder::cache)); an
/// error is not cached and answers 503.
///
/// Any `Fn(TenantId) -> impl Future<Output = Result<Option<Limits>,
/// LookupError>>` is a lookup.
///
/// # Example
///
/// ```
/// use rampart_tenant::{Limits, LookupError, TenantId, TenantLayer};
///
/// let layer = TenantLayer::builder()
///     .from_path_prefix("/t/")
///     .lookup(|id: TenantId| async move {
///         // SELECT max_calls_per_month, ... FROM organizations WHERE id = $1
///         Ok::<_, LookupError>((id.as_str() == "acme").then(|| Limits::new().max_concurrent(10)))
///     })
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
pub trait TenantLookup: Send + Sync + 'static {
    /// The tenant's quotas, `None` when there is no such tenant.
    fn lookup(&self, id: TenantId) -> LookupFuture;
}

impl<F, Fut> TenantLookup for F
where
    F: Fn(TenantId) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Limits>, LookupError>> + Send + 'static,
{
    fn lookup(&self, id: TenantId) -> LookupFuture {
        Box::pin(self(id))
    }
}

/// A lookup that failed (the database is down, say): the request is
/// answered 503 and nothing is cached.
#[derive(Debug)]
pub struct LookupError(Box<dyn Error + Send + Sync>);

impl LookupError {
    /// Wraps the cause.
    ///
    /// ```
    /// let err = rampart_tenant::LookupError::new("connection refused");
    /// assert_eq!(err.to_string(), "tenant lookup failed: connection refused");
    /// ```
    pub fn new(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self(cause.into())
    }
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant lookup failed: {}", self.0)
    }
}

impl Error for LookupError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

/// The lookup and its cache: bounded (least recently used go first) and
/// with a time to live, so a tenant's new quotas are seen within it.
#[derive(Clone)]
pub(crate) struct CachedLookup {
    lookup: Arc<dyn TenantLookup>,
    cache: moka::sync::Cache<TenantId, Option<Arc<Limits>>>,
}

impl fmt::Debug for CachedLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedLookup")
            .field("entries", &self.cache.entry_count())
            .field("policy", &self.cache.policy())
            .finish_non_exhaustive()
    }
}

impl CachedLookup {
    pub(crate) fn new(lookup: Arc<dyn TenantLookup>, capacity: u64, ttl: Duration) -> Self {
        Self {
            lookup,
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The cached answer: `Some(Some(limits))` known, `Some(None)` known
    /// not to exist, `None` not cached.
    #[inline]
    #[allow(
        clippy::option_option,
        reason = "a cache miss and a cached absence are different answers"
    )]
    pub(crate) fn cached(&self, id: &TenantId) -> Option<Option<Arc<Limits>>> {
        self.cache.get(id)
    }

    /// Asks the app, caches the answer.
    pub(crate) fn fetch(
        &self,
        id: TenantId,
    ) -> impl Future<Output = Result<Option<Arc<Limits>>, LookupError>> + Send + 'static {
        let future = self.lookup.lookup(id.clone());
        let cache = self.cache.clone();
        async move {
            let answer = future.await?.map(Arc::new);
            cache.insert(id, answer.clone());
            Ok(answer)
        }
    }

    /// Forgets the answer for `id` (its quotas changed).
    pub(crate) fn invalidate(&self, id: &TenantId) {
        self.cache.invalidate(id);
    }
}
