//! Where cached bytes live: [`MemoryCacheStore`] (quick_cache, bounded by
//! bytes), [`RedisCacheStore`] (shared by replicas) and [`TwoTierCacheStore`]
//! (a memory store in front of Redis, local copies dropped through pub/sub).
//!
//! Stores hold opaque bytes under binary keys, with a TTL and tags. Tags are
//! *versioned*: invalidating a tag gives it a new version that no other tag
//! ever had; an entry remembers the versions of its tags when it was
//! computed and is a miss once any of them changed. Nothing enumerates keys
//! (no `KEYS`, no `SCAN`): invalidation costs one write per tag, whatever
//! the number of entries.
//!
//! The versions an entry is stamped with are read *before* its value is
//! computed (they come back with the miss, as a [`TagStamp`]): a write that
//! invalidates a tag while the value is being computed makes that value a
//! miss as soon as it is stored, so a stale value never outlives an
//! invalidation.

use std::{
    any::Any,
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::{CacheError, CacheStats};

mod memory;
#[cfg(feature = "redis")]
mod redis;
mod tags;
#[cfg(feature = "redis")]
mod two_tier;

pub use self::memory::MemoryCacheStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisCacheStore;
#[cfg(feature = "redis")]
pub use self::two_tier::TwoTierCacheStore;

/// The future a store's operation returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CacheError>> + Send + 'a>>;

/// The versions of an entry's tags, read at lookup time; opaque.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagStamp {
    /// The store's own versions.
    pub(crate) versions: Vec<(String, u64)>,
    /// The local tier's versions (two-tier store).
    pub(crate) local: Vec<(String, u64)>,
}

impl TagStamp {
    /// The stamp of an entry without tags.
    pub fn none() -> Self {
        Self::default()
    }
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The value, with all its tags at the versions it was stored with.
    Hit(Bytes),
    /// No valid value; store the computed one with this stamp.
    Miss(TagStamp),
}

/// A value found in a local tier: its bytes, and a slot where the first
/// reader may keep the value decoded, so that later hits skip decoding.
#[derive(Clone)]
pub struct LocalHit {
    slot: Arc<HitSlot>,
}

/// A stored value and its decoded form: the memory store's entry itself,
/// shared with every hit on it, so that a hit raises one count.
pub(crate) struct HitSlot {
    pub(crate) value: Bytes,
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
    /// The memory store's: the tag versions the value was stored with.
    pub(crate) stamp: Vec<(String, u64)>,
    /// The memory store's: past this the entry is a miss.
    pub(crate) expires: Option<Instant>,
}

impl HitSlot {
    pub(crate) fn new(value: Bytes) -> Self {
        Self {
            value,
            decoded: OnceLock::new(),
            stamp: Vec::new(),
            expires: None,
        }
    }
}

impl fmt::Debug for HitSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HitSlot")
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LocalHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHit")
            .field("value", &self.slot.value)
            .finish_non_exhaustive()
    }
}

impl LocalHit {
    /// A hit with a fresh decoding slot.
    pub fn new(value: Bytes) -> Self {
        Self {
            slot: Arc::new(HitSlot::new(value)),
        }
    }

    pub(crate) fn with_slot(slot: Arc<HitSlot>) -> Self {
        Self { slot }
    }

    /// The stored bytes.
    pub fn value(&self) -> &Bytes {
        &self.slot.value
    }

    /// As [`Self::decoded`], borrowed: no count to raise and drop. `None`
    /// also when the slot holds another type (keys of responses and of
    /// typed values never meet: their first parts differ).
    pub(crate) fn decoded_ref<T: Any + Send + Sync>(
        &self,
        decode: impl FnOnce(&Bytes) -> Option<T>,
    ) -> Option<&T> {
        if self.slot.decoded.get().is_none() {
            let value = decode(&self.slot.value)?;
            let _ = self.slot.decoded.set(Arc::new(value));
        }
        self.slot.decoded.get()?.downcast_ref::<T>()
    }

    /// The value decoded as `T`: from the slot if a reader decoded it as a
    /// `T` already, else by `decode` (kept in the slot when it is empty).
    pub fn decoded<T: Any + Send + Sync>(
        &self,
        decode: impl FnOnce(&Bytes) -> Option<T>,
    ) -> Option<Arc<T>> {
        if let Some(done) = self.slot.decoded.get()
            && let Ok(value) = Arc::clone(done).downcast::<T>()
        {
            return Some(value);
        }
        let value = Arc::new(decode(&self.slot.value)?);
        let _ = self
            .slot
            .decoded
            .set(Arc::clone(&value) as Arc<dyn Any + Send + Sync>);
        Some(value)
    }
}

/// A place to keep cached bytes. Implemented by [`MemoryCacheStore`],
/// [`RedisCacheStore`] and [`TwoTierCacheStore`]; the conformance suite in
/// this crate's `tests/` runs against each.
pub trait CacheStore: Send + Sync + fmt::Debug + 'static {
    /// The value under `key` if its tags are unchanged; on a miss, the
    /// current versions of `tags`, to store the computed value with. One
    /// round trip for a remote store.
    fn lookup<'a>(&'a self, key: &'a [u8], tags: &'a [String]) -> StoreFuture<'a, Lookup>;

    /// The value under `key` if a local tier holds a valid copy, without
    /// waiting (the hit path of an in-process store). `None` says nothing
    /// about the remote tier.
    fn lookup_local(&self, key: &[u8]) -> Option<LocalHit> {
        let _ = key;
        None
    }

    /// As [`Self::lookup_local`], with the time read by the caller: one
    /// that needs it anyway (the response cache, for `Age` and freshness)
    /// reads the clock once a hit. `now` is `Instant::now()`, read just
    /// before; the default ignores it and calls `lookup_local`.
    fn lookup_local_at(&self, key: &[u8], now: Instant) -> Option<LocalHit> {
        let _ = now;
        self.lookup_local(key)
    }

    /// Stores `value` under `key` for `ttl`, stamped with the versions of
    /// its tags from the lookup that missed.
    fn store<'a>(
        &'a self,
        key: &'a [u8],
        value: Bytes,
        ttl: Duration,
        stamp: TagStamp,
    ) -> StoreFuture<'a, ()>;

    /// The current versions of `tags`, for a value stored without a lookup
    /// before it ([`CacheNamespace::set`](crate::CacheNamespace::set)). The
    /// default looks up the empty key, which no key builder makes.
    fn stamp<'a>(&'a self, tags: &'a [String]) -> StoreFuture<'a, TagStamp> {
        Box::pin(async move {
            match self.lookup(b"", tags).await? {
                Lookup::Miss(stamp) => Ok(stamp),
                Lookup::Hit(_) => Err(CacheError::Corrupt("a value under the empty key".into())),
            }
        })
    }

    /// Removes the value under `key` (in every replica's local tier).
    fn delete<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, ()>;

    /// Gives each tag a new version: every entry stamped with an older one
    /// is a miss from now on (in every replica).
    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> StoreFuture<'a, ()>;

    /// The counters of this store and of what uses it.
    fn stats(&self) -> CacheStats;
}

/// Entries live at most this long in any store: tag versions outlive every
/// entry stamped with them, and an entry that asks for longer is cut.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Tag versions live this long after their last change: longer than any
/// entry that may carry them.
pub(crate) const TAG_TTL: Duration = Duration::from_secs(7 * 24 * 3600 + 3600);
