//! The in-process store: quick_cache, bounded by bytes, not entries.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use quick_cache::{Lifecycle, Weighter, sync::Cache as Quick};

use super::{
    CacheStore, HitSlot, LocalHit, Lookup, MAX_TTL, StoreFuture, TAG_TTL, TagStamp,
    tags::TagVersions,
};
use crate::CacheStats;

/// Distinct tags the memory store remembers versions of.
const TAG_CAPACITY: u64 = 100_000;

/// Bytes per shard, at least: a shard holds only values below its share
/// of the budget, so small stores get few shards.
const SHARD_BYTES: u64 = 4 << 20;

/// Weighs an entry in bytes: key, value, tags and bookkeeping.
#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl Weighter<Bytes, Arc<HitSlot>> for ByBytes {
    fn weight(&self, key: &Bytes, entry: &Arc<HitSlot>) -> u64 {
        let tags: usize = entry.stamp.iter().map(|(t, _)| t.len() + 32).sum();
        // The bookkeeping of one entry (slot, `Arc`, decoded slot), roughly.
        let overhead = 96;
        u64::try_from(key.len() + entry.value.len() + tags + overhead).unwrap_or(u64::MAX)
    }
}

/// Counts the entries dropped to make room (and values too large for the
/// store, never admitted).
#[derive(Debug, Clone)]
struct CountEvictions(CacheStats);

impl Lifecycle<Bytes, Arc<HitSlot>> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: Bytes, _entry: Arc<HitSlot>) {
        self.0.evicted();
    }
}

/// Keys are ours (length-prefixed parts), but parts come from requests:
/// a seeded hasher, faster than SipHash on keys of tens of bytes.
type Hasher = foldhash::fast::RandomState;

#[derive(Debug)]
struct Inner {
    entries: Quick<Bytes, Arc<HitSlot>, ByBytes, Hasher, CountEvictions>,
    tags: TagVersions,
    stats: CacheStats,
    /// Bumped by every invalidation, delete and clear: a copy read from
    /// elsewhere is inserted only if none happened meanwhile.
    generation: AtomicU64,
}

/// The in-process store: [quick_cache](https://docs.rs/quick_cache),
/// weighed in bytes (key, value, tags and bookkeeping), so that a budget of
/// 64 MiB holds 64 MiB whatever the values' sizes. Entries read least make
/// room (S3-FIFO; counted in [`CacheStats::evictions`]); each entry expires
/// after its own TTL. Clones share the entries.
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
    /// A store that holds at most `max_bytes`. A value heavier than a
    /// shard's share of them (all below 8 MiB, half below 16 MiB, else a
    /// quarter) is not kept, and counted as an eviction.
    pub fn new(max_bytes: u64) -> Self {
        let stats = CacheStats::default();
        let shards = match max_bytes / SHARD_BYTES {
            0 | 1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
        let options = quick_cache::OptionsBuilder::new()
            .weight_capacity(max_bytes)
            // A guess at 2 KiB an entry, to size the tables.
            .estimated_items_capacity(
                usize::try_from((max_bytes >> 11).clamp(16, 1 << 16)).unwrap_or(16),
            )
            .shards(usize::try_from(shards).unwrap_or(1))
            .build()
            .expect("weight capacity and item estimate are set");
        let entries = Quick::with_options(
            options,
            ByBytes,
            Hasher::default(),
            CountEvictions(stats.clone()),
        );
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
        match self.get_valid(key, Instant::now()) {
            Some(hit) => Lookup::Hit(hit.value().clone()),
            None => Lookup::Miss(TagStamp {
                versions: self.inner.tags.stamp(tags),
                local: Vec::new(),
            }),
        }
    }

    fn get_valid(&self, key: &[u8], now: Instant) -> Option<LocalHit> {
        let entry = self.inner.entries.get(key)?;
        if entry.expires.is_none_or(|at| now < at) && self.inner.tags.valid(&entry.stamp) {
            Some(LocalHit::with_slot(entry))
        } else {
            self.inner.entries.remove(key);
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
        let entry = HitSlot {
            stamp,
            expires: Some(Instant::now() + ttl.min(MAX_TTL)),
            ..HitSlot::new(value)
        };
        self.inner
            .entries
            .insert(Bytes::copy_from_slice(key), Arc::new(entry));
    }

    pub(crate) fn delete_now(&self, key: &[u8]) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.entries.remove(key);
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
        self.inner.entries.clear();
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

    /// Entries held now (expired ones until they are read or evicted).
    pub fn entry_count(&self) -> u64 {
        u64::try_from(self.inner.entries.len()).unwrap_or(u64::MAX)
    }

    /// Bytes held now, by the store's weigher.
    pub fn weighted_size(&self) -> u64 {
        self.inner.entries.weight()
    }
}

impl CacheStore for MemoryCacheStore {
    fn lookup<'a>(&'a self, key: &'a [u8], tags: &'a [String]) -> StoreFuture<'a, Lookup> {
        let found = self.lookup_now(key, tags);
        Box::pin(async move { Ok(found) })
    }

    #[inline]
    fn lookup_local(&self, key: &[u8]) -> Option<LocalHit> {
        self.get_valid(key, Instant::now())
    }

    #[inline]
    fn lookup_local_at(&self, key: &[u8], now: Instant) -> Option<LocalHit> {
        self.get_valid(key, now)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn miss_stamp(store: &MemoryCacheStore, key: &[u8]) -> Vec<(String, u64)> {
        match store.lookup_now(key, &[]) {
            Lookup::Miss(stamp) => stamp.versions,
            Lookup::Hit(_) => panic!("a hit on an empty key"),
        }
    }

    #[test]
    fn holds_at_most_its_bytes_and_counts_evictions() {
        let store = MemoryCacheStore::new(64 << 10);
        let value = Bytes::from(vec![b'x'; 1024]);
        for i in 0..200u32 {
            let key = i.to_be_bytes();
            let stamp = miss_stamp(&store, &key);
            store.store_now(&key, value.clone(), Duration::from_secs(60), stamp);
            assert!(
                store.weighted_size() <= 64 << 10,
                "{}",
                store.weighted_size()
            );
        }
        assert!(
            store.stats().evictions() >= 100,
            "{}",
            store.stats().evictions()
        );
        assert!(store.entry_count() < 64);
        let last = 199u32.to_be_bytes();
        assert_eq!(store.lookup_now(&last, &[]), Lookup::Hit(value));
    }

    #[test]
    fn a_value_larger_than_the_store_is_not_kept_and_counted() {
        let store = MemoryCacheStore::new(4 << 10);
        store.store_now(
            b"big",
            Bytes::from(vec![0; 8 << 10]),
            Duration::from_secs(60),
            Vec::new(),
        );
        assert!(matches!(store.lookup_now(b"big", &[]), Lookup::Miss(_)));
        assert_eq!(store.stats().evictions(), 1);
        assert_eq!(store.weighted_size(), 0);
    }

    #[test]
    fn an_entry_past_its_ttl_is_a_miss_and_dropped() {
        let store = MemoryCacheStore::new(1 << 20);
        store.store_now(b"k", "v".into(), Duration::from_millis(1), Vec::new());
        store.store_now(b"kept", "v".into(), Duration::from_secs(60), Vec::new());
        std::thread::sleep(Duration::from_millis(20));
        assert!(matches!(store.lookup_now(b"k", &[]), Lookup::Miss(_)));
        assert_eq!(store.entry_count(), 1);
        assert_eq!(store.lookup_now(b"kept", &[]), Lookup::Hit("v".into()));
    }

    #[test]
    fn a_local_lookup_takes_the_callers_time() {
        let store = MemoryCacheStore::new(1 << 20);
        store.store_now(b"k", "v".into(), Duration::from_secs(60), Vec::new());
        let now = Instant::now();
        let hit = store.lookup_local_at(b"k", now).map(|h| h.value().clone());
        assert_eq!(hit.as_deref(), Some(&b"v"[..]));
        let later = now + Duration::from_secs(61);
        assert!(store.lookup_local_at(b"k", later).is_none());
        // Past its TTL it is dropped, as by any lookup.
        assert_eq!(store.entry_count(), 0);
    }

    #[test]
    fn delete_and_clear_drop_entries() {
        let store = MemoryCacheStore::new(1 << 20);
        store.store_now(b"a", "1".into(), Duration::from_secs(60), Vec::new());
        store.store_now(b"b", "2".into(), Duration::from_secs(60), Vec::new());
        store.delete_now(b"a");
        assert!(matches!(store.lookup_now(b"a", &[]), Lookup::Miss(_)));
        store.clear();
        assert!(matches!(store.lookup_now(b"b", &[]), Lookup::Miss(_)));
        assert_eq!(store.entry_count(), 0);
        assert_eq!(store.stats().evictions(), 0, "deletes are not evictions");
    }
}
