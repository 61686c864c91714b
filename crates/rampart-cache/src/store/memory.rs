//! The in-process store: moka, bounded by bytes, not entries.

use std::{
    any::Any,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use moka::{notification::RemovalCause, sync::Cache as Moka};

use super::{
    CacheStore, LocalHit, Lookup, MAX_TTL, StoreFuture, TAG_TTL, TagStamp, tags::TagVersions,
};
use crate::CacheStats;

/// Distinct tags the memory store remembers versions of.
const TAG_CAPACITY: u64 = 100_000;

#[derive(Debug)]
pub(crate) struct MemEntry {
    value: Bytes,
    /// The value as its first reader decoded it.
    decoded: Arc<OnceLock<Arc<dyn Any + Send + Sync>>>,
    stamp: Vec<(String, u64)>,
    ttl: Duration,
}

impl MemEntry {
    fn weight(key: &Bytes, entry: &Arc<Self>) -> u32 {
        let tags: usize = entry.stamp.iter().map(|(t, _)| t.len() + 32).sum();
        // The bookkeeping of one moka entry, roughly.
        let overhead = 96;
        u32::try_from(key.len() + entry.value.len() + tags + overhead).unwrap_or(u32::MAX)
    }
}

struct PerEntryTtl;

impl moka::Expiry<Bytes, Arc<MemEntry>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Bytes,
        value: &Arc<MemEntry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &Bytes,
        value: &Arc<MemEntry>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Keys are ours (length-prefixed parts), but parts come from requests:
/// a seeded hasher, faster than SipHash on keys of tens of bytes.
type Hasher = foldhash::fast::RandomState;

#[derive(Debug)]
struct Inner {
    entries: Moka<Bytes, Arc<MemEntry>, Hasher>,
    tags: TagVersions,
    stats: CacheStats,
    /// Bumped by every invalidation, delete and clear: a copy read from
    /// elsewhere is inserted only if none happened meanwhile.
    generation: AtomicU64,
}

/// The in-process store: [moka](https://docs.rs/moka), weighed in bytes
/// (key, value, tags and bookkeeping), so that a budget of 64 MiB holds
/// 64 MiB whatever the values' sizes. Least-recently-used entries make
/// room (counted in [`CacheStats::evictions`]); each entry expires after
/// its own TTL. Clones share the entries.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_cache::{CacheStore, Lookup, MemoryCacheStore, TagStamp};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryCacheStore::new(64 << 20);
/// let tags = vec!["campaign:7".to_owned()];
/// let Lookup::Miss(stamp) = store.lookup(b"k", &tags).await.unwrap() else { panic!() };
/// store.store(b"k", "v".into(), Duration::from_secs(60), stamp).await.unwrap();
/// assert_eq!(store.lookup(b"k", &tags).await.unwrap(), Lookup::Hit("v".into()));
///
/// store.invalidate_tags(&tags).await.unwrap();
/// assert!(matches!(store.lookup(b"k", &tags).await.unwrap(), Lookup::Miss(_)));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryCacheStore {
    inner: Arc<Inner>,
}

impl MemoryCacheStore {
    /// A store that holds at most `max_bytes` (approximately: moka applies
    /// the bound a little after the insert that crosses it).
    pub fn new(max_bytes: u64) -> Self {
        let stats = CacheStats::default();
        let evictions = stats.clone();
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(MemEntry::weight)
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    evictions.evicted();
                }
            })
            .build_with_hasher(Hasher::default());
        Self {
            inner: Arc::new(Inner {
                entries,
                tags: TagVersions::new(TAG_CAPACITY, TAG_TTL),
                stats,
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// The lookup, without a future.
    pub(crate) fn lookup_now(&self, key: &[u8], tags: &[String]) -> Lookup {
        match self.get_valid(key) {
            Some(hit) => Lookup::Hit(hit.value().clone()),
            None => Lookup::Miss(TagStamp {
                versions: self.inner.tags.stamp(tags),
                local: Vec::new(),
            }),
        }
    }

    fn get_valid(&self, key: &[u8]) -> Option<LocalHit> {
        let entry = self.inner.entries.get(key)?;
        if self.inner.tags.valid(&entry.stamp) {
            Some(LocalHit::with_slot(
                entry.value.clone(),
                Arc::clone(&entry.decoded),
            ))
        } else {
            self.inner.entries.invalidate(key);
            None
        }
    }

    /// Stores with versions of this store's own tag table.
    pub(crate) fn store_now(
        &self,
        key: &[u8],
        value: Bytes,
        ttl: Duration,
        stamp: Vec<(String, u64)>,
    ) {
        let entry = MemEntry {
            value,
            decoded: Arc::default(),
            stamp,
            ttl: ttl.min(MAX_TTL),
        };
        self.inner
            .entries
            .insert(Bytes::copy_from_slice(key), Arc::new(entry));
    }

    pub(crate) fn delete_now(&self, key: &[u8]) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.entries.invalidate(key);
    }

    pub(crate) fn invalidate_now(&self, tags: &[String]) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.tags.bump(tags);
    }

    /// Drops every entry (the two-tier store does when it may have missed
    /// an invalidation).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // the two-tier store's
    pub(crate) fn clear(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.entries.invalidate_all();
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // the two-tier store's
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Inserts a copy of a value read elsewhere before `generation`, with
    /// `tags` at their versions now, unless an invalidation, delete or clear
    /// happened since `generation` was read (it may have been meant for
    /// this value).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // the two-tier store's
    pub(crate) fn insert_copy(
        &self,
        key: &[u8],
        value: Bytes,
        ttl: Duration,
        tags: &[String],
        generation: u64,
    ) {
        let stamp = self.inner.tags.stamp(tags);
        if self.generation() == generation {
            self.store_now(key, value, ttl, stamp);
            // An invalidation between the check and the insert changed a
            // version in `stamp`, or comes next: either way the copy is a miss.
        }
    }

    /// Entries held now (moka's estimate; pending work is run first).
    pub fn entry_count(&self) -> u64 {
        self.inner.entries.run_pending_tasks();
        self.inner.entries.entry_count()
    }

    /// Bytes held now, by the store's weigher (pending work is run first).
    pub fn weighted_size(&self) -> u64 {
        self.inner.entries.run_pending_tasks();
        self.inner.entries.weighted_size()
    }
}

impl CacheStore for MemoryCacheStore {
    fn lookup<'a>(&'a self, key: &'a [u8], tags: &'a [String]) -> StoreFuture<'a, Lookup> {
        let found = self.lookup_now(key, tags);
        Box::pin(async move { Ok(found) })
    }

    #[inline]
    fn lookup_local(&self, key: &[u8]) -> Option<LocalHit> {
        self.get_valid(key)
    }

    fn store<'a>(
        &'a self,
        key: &'a [u8],
        value: Bytes,
        ttl: Duration,
        stamp: TagStamp,
    ) -> StoreFuture<'a, ()> {
        self.store_now(key, value, ttl, stamp.versions);
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, ()> {
        self.delete_now(key);
        Box::pin(async { Ok(()) })
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> StoreFuture<'a, ()> {
        let checked = tags.iter().try_for_each(|t| crate::error::check_tag(t));
        if checked.is_ok() {
            self.invalidate_now(tags);
        }
        Box::pin(async move { checked })
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats.clone()
    }
}
