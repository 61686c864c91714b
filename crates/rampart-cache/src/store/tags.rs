//! In-process tag versions, for the memory store and the local tier of the
//! two-tier store.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Tag → version, bounded. A tag that is missing (never seen, expired,
/// evicted to stay within the bound) fails every check: an entry stamped
/// with it is a miss, never wrongly valid. A stamp gives a missing tag a
/// fresh version first.
#[derive(Debug)]
pub(crate) struct TagVersions {
    map: moka::sync::Cache<String, u64>,
    next: AtomicU64,
}

impl TagVersions {
    pub(crate) fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            map: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            next: AtomicU64::new(1),
        }
    }

    fn fresh(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn stamp(&self, tags: &[String]) -> Vec<(String, u64)> {
        tags.iter()
            .map(|tag| {
                (
                    tag.clone(),
                    self.map.get_with_by_ref(tag.as_str(), || self.fresh()),
                )
            })
            .collect()
    }

    pub(crate) fn valid(&self, stamp: &[(String, u64)]) -> bool {
        stamp
            .iter()
            .all(|(tag, version)| self.map.get(tag.as_str()) == Some(*version))
    }

    pub(crate) fn bump(&self, tags: &[String]) {
        for tag in tags {
            self.map.insert(tag.clone(), self.fresh());
        }
    }
}
