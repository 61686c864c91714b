//! Counters of the cache: requests by namespace and outcome, and the
//! entries the memory tier evicted. Plain atomics that a metrics exporter
//! (rampart-metrics, or any other) reads, with no dependency either way.

use std::sync::{
    Arc, PoisonError, RwLock,
    atomic::{AtomicU64, Ordering},
};

/// What happened to one cache request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Answered from the cache, fresh.
    Hit,
    /// Not in the cache: computed or forwarded (and stored if it could be).
    Miss,
    /// Answered from the cache past its TTL (stale-while-revalidate or
    /// stale-if-error).
    Stale,
    /// Not looked up by rule (credentials, `no-store`, no scope).
    Bypass,
    /// The store failed; computed or forwarded without it.
    Error,
}

impl CacheOutcome {
    /// Every outcome, in label order.
    pub const ALL: [Self; 5] = [
        Self::Hit,
        Self::Miss,
        Self::Stale,
        Self::Bypass,
        Self::Error,
    ];

    /// The label value: `hit`, `miss`, `stale`, `bypass`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Stale => "stale",
            Self::Bypass => "bypass",
            Self::Error => "error",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Hit => 0,
            Self::Miss => 1,
            Self::Stale => 2,
            Self::Bypass => 3,
            Self::Error => 4,
        }
    }
}

/// One namespace's counters, held by the namespace handle or the route so
/// that counting takes no lock.
#[derive(Debug)]
pub(crate) struct NamespaceCounters {
    name: Arc<str>,
    counts: [AtomicU64; 5],
}

impl NamespaceCounters {
    pub(crate) fn add(&self, outcome: CacheOutcome) {
        self.counts[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Inner {
    namespaces: RwLock<Vec<Arc<NamespaceCounters>>>,
    evictions: AtomicU64,
}

/// The counters of one store and of every namespace and response route
/// that uses it. Cheap to clone; clones share the counts.
///
/// # Example
///
/// ```
/// use rampart_cache::{Cache, CacheOutcome, MemoryCacheStore, Namespace};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = Cache::new(MemoryCacheStore::new(1 << 20));
/// let prefs = cache.namespace(Namespace::user_preferences());
/// assert_eq!(prefs.get::<String>("u1").await.unwrap(), None);
/// prefs.set("u1", &"dark".to_owned()).await.unwrap();
/// assert_eq!(prefs.get::<String>("u1").await.unwrap().as_deref(), Some("dark"));
///
/// let stats = cache.stats();
/// assert_eq!(stats.get("user_preferences", CacheOutcome::Miss), Some(1));
/// assert_eq!(stats.get("user_preferences", CacheOutcome::Hit), Some(1));
/// assert_eq!(stats.evictions(), 0);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct CacheStats {
    inner: Arc<Inner>,
}

impl CacheStats {
    /// The counters of `name`, made on first use.
    pub(crate) fn namespace(&self, name: &str) -> Arc<NamespaceCounters> {
        if let Some(found) = self
            .inner
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|c| &*c.name == name)
        {
            return Arc::clone(found);
        }
        let mut namespaces = self
            .inner
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = namespaces.iter().find(|c| &*c.name == name) {
            return Arc::clone(found);
        }
        let counters = Arc::new(NamespaceCounters {
            name: name.into(),
            counts: Default::default(),
        });
        namespaces.push(Arc::clone(&counters));
        counters
    }

    pub(crate) fn evicted(&self) {
        self.inner.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// The count of `outcome` in `namespace`; `None` for a namespace never used.
    pub fn get(&self, namespace: &str, outcome: CacheOutcome) -> Option<u64> {
        self.inner
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|c| &*c.name == namespace)
            .map(|c| c.counts[outcome.index()].load(Ordering::Relaxed))
    }

    /// Every namespace's counts: `(namespace, [(outcome, count); 5])`.
    pub fn snapshot(&self) -> Vec<(String, [(CacheOutcome, u64); 5])> {
        self.inner
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    CacheOutcome::ALL.map(|o| (o, c.counts[o.index()].load(Ordering::Relaxed))),
                )
            })
            .collect()
    }

    /// Entries the memory tier dropped to stay within its byte budget
    /// (expiries and invalidations are not evictions).
    pub fn evictions(&self) -> u64 {
        self.inner.evictions.load(Ordering::Relaxed)
    }
}
