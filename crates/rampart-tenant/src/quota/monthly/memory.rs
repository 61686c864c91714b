//! Monthly counters in this process.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use super::{Charge, Month, MonthlyFuture, MonthlyStore, QuotaStoreError, Usage};
use crate::TenantId;

struct TenantCounter {
    quota: Box<str>,
    month: Month,
    used: u64,
}

/// Monthly counters in memory: for one process (with several replicas, use
/// `RedisMonthlyStore`, feature `redis`). Counters are lost on restart.
///
/// Holds at most `max_tenants` tenants (default 100,000). When full, tenants
/// whose counters are all of past months are dropped; if none are, a new
/// tenant's charge fails ([`QuotaStoreError::Full`], answered 503) rather than
/// forgetting a live counter, which would hand out its quota again.
///
/// # Example
///
/// ```
/// use rampart_tenant::{Charge, MemoryMonthlyStore, Month, MonthlyStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryMonthlyStore::new();
/// let tenant = "acme".parse().unwrap();
/// let charge = Charge {
///     tenant: &tenant,
///     quota: "calls",
///     month: Month::containing(std::time::SystemTime::now()),
///     limit: 2,
///     cost: 1,
/// };
/// assert!(store.charge(&charge).await.unwrap().admitted);
/// assert!(store.charge(&charge).await.unwrap().admitted);
/// let third = store.charge(&charge).await.unwrap();
/// assert!(!third.admitted);
/// assert_eq!(third.used, 2);
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryMonthlyStore {
    inner: Arc<Inner>,
}

struct Inner {
    counters: Mutex<HashMap<TenantId, Vec<TenantCounter>>>,
    max_tenants: usize,
}

impl std::fmt::Debug for MemoryMonthlyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryMonthlyStore")
            .field("max_tenants", &self.inner.max_tenants)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryMonthlyStore {
    fn default() -> Self {
        Self::with_max_tenants(100_000)
    }
}

impl MemoryMonthlyStore {
    /// A store for up to 100,000 tenants.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store for up to `max` tenants.
    pub fn with_max_tenants(max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                counters: Mutex::new(HashMap::new()),
                max_tenants: max,
            }),
        }
    }

    fn decide(&self, charge: &Charge<'_>) -> Result<Usage, QuotaStoreError> {
        // The check and the increment under one lock: that is the
        // atomicity. The lock is never held across an await.
        let mut counters = self
            .inner
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !counters.contains_key(charge.tenant) && counters.len() >= self.inner.max_tenants {
            let month = charge.month;
            counters.retain(|_, list| list.iter().any(|c| c.month >= month));
            if counters.len() >= self.inner.max_tenants {
                return Err(QuotaStoreError::Full(self.inner.max_tenants));
            }
        }
        let list = counters.entry(charge.tenant.clone()).or_default();
        let counter = if let Some(i) = list.iter_mut().position(|c| &*c.quota == charge.quota) {
            &mut list[i]
        } else {
            list.push(TenantCounter {
                quota: charge.quota.into(),
                month: charge.month,
                used: 0,
            });
            let last = list.len() - 1;
            &mut list[last]
        };
        if counter.month != charge.month {
            // A new month: the count starts again.
            counter.month = charge.month;
            counter.used = 0;
        }
        match counter.used.checked_add(charge.cost) {
            Some(after) if after <= charge.limit => {
                counter.used = after;
                Ok(Usage {
                    admitted: true,
                    used: after,
                })
            }
            _ => Ok(Usage {
                admitted: false,
                used: counter.used,
            }),
        }
    }
}

impl MonthlyStore for MemoryMonthlyStore {
    fn charge(&self, charge: &Charge<'_>) -> MonthlyFuture {
        MonthlyFuture::ready(self.decide(charge))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn month(n: u64) -> Month {
        Month::containing(UNIX_EPOCH + Duration::from_secs(n * 32 * 86_400))
    }

    fn charge<'a>(tenant: &'a TenantId, quota: &'a str, month: Month) -> Charge<'a> {
        Charge {
            tenant,
            quota,
            month,
            limit: 2,
            cost: 1,
        }
    }

    #[test]
    fn a_new_month_starts_from_zero() {
        let store = MemoryMonthlyStore::new();
        let acme: TenantId = "acme".parse().unwrap();
        for _ in 0..2 {
            assert!(
                store
                    .decide(&charge(&acme, "calls", month(1)))
                    .unwrap()
                    .admitted
            );
        }
        assert!(
            !store
                .decide(&charge(&acme, "calls", month(1)))
                .unwrap()
                .admitted
        );
        // Other quotas and tenants have their own counters.
        assert!(
            store
                .decide(&charge(&acme, "sms", month(1)))
                .unwrap()
                .admitted
        );
        let beta: TenantId = "beta".parse().unwrap();
        assert!(
            store
                .decide(&charge(&beta, "calls", month(1)))
                .unwrap()
                .admitted
        );
        assert_eq!(
            store
                .decide(&charge(&acme, "calls", month(2)))
                .unwrap()
                .used,
            1
        );
    }

    #[test]
    fn full_store_drops_past_months_then_refuses() {
        let store = MemoryMonthlyStore::with_max_tenants(2);
        let ids: Vec<TenantId> = ["a", "b", "c", "d"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        store.decide(&charge(&ids[0], "calls", month(1))).unwrap();
        store.decide(&charge(&ids[1], "calls", month(2))).unwrap();
        // `a` only has a past month's counter: dropped to make room.
        store.decide(&charge(&ids[2], "calls", month(2))).unwrap();
        assert_eq!(
            store.decide(&charge(&ids[3], "calls", month(2))),
            Err(QuotaStoreError::Full(2))
        );
        // A tenant already held is still served.
        assert!(
            store
                .decide(&charge(&ids[1], "calls", month(2)))
                .unwrap()
                .admitted
        );
    }

    #[test]
    fn a_huge_cost_is_refused_not_wrapped() {
        let store = MemoryMonthlyStore::new();
        let acme: TenantId = "acme".parse().unwrap();
        let mut big = charge(&acme, "calls", month(1));
        big.limit = u64::MAX;
        big.cost = u64::MAX;
        assert!(store.decide(&big).unwrap().admitted);
        big.cost = 1;
        assert!(!store.decide(&big).unwrap().admitted);
    }
}
