//! The cache API for application data: typed values in namespaces.

use std::{fmt, future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    CacheError, CacheKey, CacheOutcome, CacheStats, CacheStore, Lookup, Namespace, TagStamp,
    flight::{Flights, Joined, follow},
    stats::NamespaceCounters,
};

struct Inner {
    store: Arc<dyn CacheStore>,
    flights: Arc<Flights<Bytes>>,
}

/// A cache of application data over one [`CacheStore`]; clones share it.
/// Values live in [namespaces](Self::namespace).
///
/// # Example
///
/// ```
/// use rampart_cache::{Cache, MemoryCacheStore, Namespace};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), rampart_cache::CacheError> {
/// let cache = Cache::new(MemoryCacheStore::new(64 << 20));
/// let scripts = cache.namespace(Namespace::campaign_scripts());
///
/// let script: String = scripts
///     .get_or_compute("campaign:7", &["campaign:7"], || async {
///         Ok::<_, std::convert::Infallible>("Hello from the database".to_owned())
///     })
///     .await
///     .unwrap();
/// assert_eq!(scripts.get::<String>("campaign:7").await?, Some(script));
///
/// // The campaign changed: every value tagged with it is gone.
/// cache.invalidate_tags(["campaign:7"]).await?;
/// assert_eq!(scripts.get::<String>("campaign:7").await?, None);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache over `store`.
    pub fn new(store: impl CacheStore) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A cache over a store already shared (with a [`CacheLayer`](crate::CacheLayer), say).
    pub fn from_arc(store: Arc<dyn CacheStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                flights: Arc::default(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CacheStore> {
        &self.inner.store
    }

    /// The typed operations of one namespace.
    pub fn namespace(&self, namespace: Namespace) -> CacheNamespace {
        let counters = self.stats().namespace(namespace.name());
        CacheNamespace {
            cache: self.clone(),
            namespace: Arc::new(namespace),
            counters,
        }
    }

    /// Gives each tag a new version: every value (and cached response)
    /// tagged with one of them is a miss from now on, in every replica
    /// sharing the store. Call it before the write's response is sent.
    pub async fn invalidate_tags<I, T>(&self, tags: I) -> Result<(), CacheError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.inner.store.invalidate_tags(&tags).await
    }

    /// The store's counters, with every namespace's.
    pub fn stats(&self) -> CacheStats {
        self.inner.store.stats()
    }
}

/// The typed operations of one [`Namespace`] of a [`Cache`]. Values are
/// JSON (serde) under keys made of the namespace's name and version and
/// the key given. Cheap to clone.
#[derive(Clone)]
pub struct CacheNamespace {
    cache: Cache,
    namespace: Arc<Namespace>,
    counters: Arc<NamespaceCounters>,
}

impl fmt::Debug for CacheNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheNamespace")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

fn tag_list(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| (*t).to_owned()).collect()
}

impl CacheNamespace {
    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn key(&self, key: &str) -> CacheKey {
        CacheKey::for_value(self.namespace.name(), self.namespace.value_version(), key)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Option<T> {
        match serde_json::from_slice(bytes) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::debug!(namespace = self.namespace.name(), %error, "cached value unreadable; treated as a miss");
                self.counters.add(CacheOutcome::Error);
                None
            }
        }
    }

    fn encode<T: Serialize>(&self, value: &T) -> Result<Bytes, CacheError> {
        let bytes = serde_json::to_vec(value).map_err(|e| CacheError::Serialize(e.to_string()))?;
        let max = self.namespace.value_cap();
        if bytes.len() > max {
            return Err(CacheError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        Ok(Bytes::from(bytes))
    }

    /// The value under `key`, if there is one that is valid and of type `T`
    /// (a value that does not deserialize as `T` is a miss, counted as an
    /// error).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        let key = self.key(key);
        let store = &self.cache.inner.store;
        let found = match store.lookup_local(key.as_bytes()) {
            Some(hit) => Some(hit.value().clone()),
            None => match store.lookup(key.as_bytes(), &[]).await {
                Ok(Lookup::Hit(bytes)) => Some(bytes),
                Ok(Lookup::Miss(_)) => None,
                Err(error) => {
                    self.counters.add(CacheOutcome::Error);
                    return Err(error);
                }
            },
        };
        let value = found.and_then(|bytes| self.decode(&bytes));
        self.counters.add(if value.is_some() {
            CacheOutcome::Hit
        } else {
            CacheOutcome::Miss
        });
        Ok(value)
    }

    /// Stores `value` under `key` for the namespace's TTL, without tags.
    pub async fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<(), CacheError> {
        self.set_with(key, value, self.namespace.ttl(), &[]).await
    }

    /// Stores `value` under `key` for `ttl`, tagged with `tags`.
    pub async fn set_with<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
        tags: &[&str],
    ) -> Result<(), CacheError> {
        let bytes = self.encode(value)?;
        let tags = tag_list(tags);
        let store = &self.cache.inner.store;
        let stamp = if tags.is_empty() {
            TagStamp::none()
        } else {
            store.stamp(&tags).await?
        };
        store
            .store(self.key(key).as_bytes(), bytes, ttl, stamp)
            .await
    }

    /// Removes the value under `key`, in every replica.
    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.cache
            .inner
            .store
            .delete(self.key(key).as_bytes())
            .await
    }

    /// The value under `key`; on a miss, `compute`'s value, stored for the
    /// namespace's TTL with `tags`.
    ///
    /// Of the tasks of this process that miss `key` at once, one computes
    /// and the others wait for its value (single-flight). If it fails (or
    /// its future is dropped), the next waiting task computes.
    ///
    /// The cache is never the reason this fails: when the store fails, the
    /// value is computed (and the failure counted); a value too large for
    /// the namespace is returned and not stored. Only `compute`'s error is
    /// returned.
    pub async fn get_or_compute<T, F, Fut, E>(
        &self,
        key: &str,
        tags: &[&str],
        compute: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let key = self.key(key);
        let key_bytes = Bytes::copy_from_slice(key.as_bytes());
        let store = &self.cache.inner.store;
        if let Some(value) = store
            .lookup_local(&key_bytes)
            .and_then(|hit| self.decode(hit.value()))
        {
            self.counters.add(CacheOutcome::Hit);
            return Ok(value);
        }
        let tags = tag_list(tags);
        let leader = loop {
            match self.cache.inner.flights.join(&key_bytes) {
                Joined::Follower(receiver) => {
                    if let Some(value) = follow(receiver).await.and_then(|b| self.decode(&b)) {
                        self.counters.add(CacheOutcome::Hit);
                        return Ok(value);
                    }
                    // The leader gave up: lead, or follow the next one.
                }
                Joined::Leader(leader) => break leader,
            }
        };
        let stamp = match store.lookup(&key_bytes, &tags).await {
            Ok(Lookup::Hit(bytes)) => {
                if let Some(value) = self.decode(&bytes) {
                    self.counters.add(CacheOutcome::Hit);
                    leader.publish(bytes);
                    return Ok(value);
                }
                None
            }
            Ok(Lookup::Miss(stamp)) => {
                self.counters.add(CacheOutcome::Miss);
                Some(stamp)
            }
            Err(error) => {
                tracing::debug!(namespace = self.namespace.name(), %error, "cache store failed; computing");
                self.counters.add(CacheOutcome::Error);
                None
            }
        };
        let value = compute().await?;
        match self.encode(&value) {
            Ok(bytes) => {
                if let Some(stamp) = stamp
                    && let Err(error) = store
                        .store(&key_bytes, bytes.clone(), self.namespace.ttl(), stamp)
                        .await
                {
                    tracing::debug!(namespace = self.namespace.name(), %error, "cache store failed to store");
                    self.counters.add(CacheOutcome::Error);
                }
                leader.publish(bytes);
            }
            Err(error) => {
                tracing::debug!(namespace = self.namespace.name(), %error, "value not cached");
            }
        }
        Ok(value)
    }
}
