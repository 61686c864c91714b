//! The quota state an app shares between its layers: concurrency slots and
//! the monthly store.

use std::{fmt, sync::Arc};

use rampart_core::{Clock, SystemClock};

use super::{
    QuotaLayer,
    monthly::{Charge, Month, MonthlyStore, QuotaStoreError},
    slots::Slots,
};
use crate::{QuotaExceeded, Tenant, TenantCounter, TenantId};

pub(crate) struct Inner {
    pub(crate) slots: Arc<Slots>,
    pub(crate) store: Arc<dyn MonthlyStore>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// The quota state of an app, shared by every [`QuotaLayer`] made from it:
/// the concurrency slots of each tenant (one pool across all marked
/// routes) and the store of monthly counters. Build one, clone it freely.
///
/// # Example
///
/// ```
/// use rampart_tenant::{MemoryMonthlyStore, Quotas};
///
/// let quotas = Quotas::new(MemoryMonthlyStore::new());
/// let calls = quotas.layer().concurrent().monthly("calls");
/// assert_eq!(quotas.in_flight(&"acme".parse().unwrap()), 0);
/// # let _ = calls;
/// ```
#[derive(Clone)]
pub struct Quotas {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Quotas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quotas")
            .field("store", &self.inner.store)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// Why [`Quotas::charge_monthly`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChargeError {
    /// The quota is spent (429 with `Retry-After` as a response).
    #[error(transparent)]
    Exceeded(QuotaExceeded),
    /// The store could not decide.
    #[error(transparent)]
    Store(QuotaStoreError),
}

impl Quotas {
    /// Quotas with monthly counters in `store`, months from the system clock.
    pub fn new(store: impl MonthlyStore) -> Self {
        Self::with_clock(store, SystemClock)
    }

    /// Quotas with months taken from `clock` (a `ManualClock` in tests).
    pub fn with_clock(store: impl MonthlyStore, clock: impl Clock) -> Self {
        Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Slots::default()),
                store: Arc::new(store),
                clock: Arc::new(clock),
            }),
        }
    }

    /// A layer for the routes to mark, enforcing nothing yet but that the
    /// request has a tenant (401 otherwise); add
    /// [`concurrent`](QuotaLayer::concurrent) and
    /// [`monthly`](QuotaLayer::monthly).
    pub fn layer(&self) -> QuotaLayer {
        QuotaLayer {
            quotas: self.clone(),
            concurrent: false,
            monthly: None,
        }
    }

    /// Concurrency slots `id` holds now.
    pub fn in_flight(&self, id: &TenantId) -> u32 {
        self.inner.slots.held(id)
    }

    /// Charges `cost` units of the tenant's monthly quota `quota` outside
    /// any route (a job that places calls, say): `Ok(used)` with the units
    /// used this month, or why not. A quota the tenant has no limit for is
    /// not counted (`Ok(0)`).
    ///
    /// ```
    /// use rampart_tenant::{ChargeError, Limits, MemoryMonthlyStore, Quotas, Tenant};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let quotas = Quotas::new(MemoryMonthlyStore::new());
    /// let tenant = Tenant::new("acme".parse().unwrap(), Limits::new().monthly("sms", 1));
    /// assert_eq!(quotas.charge_monthly(&tenant, "sms", 1).await, Ok(1));
    /// assert!(matches!(quotas.charge_monthly(&tenant, "sms", 1).await, Err(ChargeError::Exceeded(_))));
    /// # });
    /// ```
    pub async fn charge_monthly(
        &self,
        tenant: &Tenant,
        quota: &str,
        cost: u64,
    ) -> Result<u64, ChargeError> {
        let Some(limit) = tenant.limits().get_monthly(quota) else {
            return Ok(0);
        };
        let now = self.inner.clock.system_time();
        let month = Month::containing(now);
        let charge = Charge {
            tenant: tenant.id(),
            quota,
            month,
            limit,
            cost,
        };
        match self.inner.store.charge(&charge).await {
            Ok(usage) if usage.admitted => {
                tenant.stats().add(TenantCounter::MonthlyAdmitted);
                Ok(usage.used)
            }
            Ok(_) => {
                tenant.stats().add(TenantCounter::MonthlyLimited);
                Err(ChargeError::Exceeded(QuotaExceeded::monthly(
                    quota,
                    limit,
                    month.remaining(now),
                )))
            }
            Err(error) => {
                tenant.stats().add(TenantCounter::MonthlyUnavailable);
                Err(ChargeError::Store(error))
            }
        }
    }
}

impl Default for Quotas {
    /// Monthly counters in memory ([`MemoryMonthlyStore`](crate::MemoryMonthlyStore)).
    fn default() -> Self {
        Self::new(super::monthly::MemoryMonthlyStore::new())
    }
}
