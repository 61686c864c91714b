//! Middleware which enforces a tenant's quotas on the routes it wraps:
//! requests in flight at once, and units per calendar month.

mod body;
mod future;
pub(crate) mod monthly;
mod service;
mod slots;

use std::{fmt, sync::Arc};

use rampart_core::{Clock, SystemClock};
use tower_layer::Layer;

pub use self::{body::QuotaBody, future::QuotaFuture, service::QuotaService};
use self::{
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
    inner: Arc<Inner>,
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
        Self::new(monthly::MemoryMonthlyStore::new())
    }
}

/// Marks the routes it wraps as needing a tenant and, as configured,
/// taking one of the tenant's concurrency slots and one unit of a monthly
/// quota per request. Place it below a [`TenantLayer`](crate::TenantLayer)
/// (with axum: `route_layer` on the marked routes).
///
/// - No tenant in the request: 401 problem+json.
/// - [`concurrent`](Self::concurrent): the tenant already has
///   [`max_concurrent`](crate::Limits::max_concurrent) requests in flight
///   on marked routes: 429 problem+json (no `Retry-After`: a slot frees
///   when any of them ends). The slot is held until the response body has
///   been sent, fails, or is dropped (a client that disconnects).
/// - [`monthly`](Self::monthly): the tenant's quota for this calendar
///   month (UTC) is spent: 429 with `Retry-After` until the month ends.
///   The unit is charged before the handler runs (a request refused by
///   concurrency is not charged). The store failing: 503.
///
/// Quotas the tenant's [`Limits`](crate::Limits) do not set are not
/// enforced.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use rampart_tenant::{Limits, Quotas, TenantLayer};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let quotas = Quotas::default();
/// let service = ServiceBuilder::new()
///     .layer(
///         TenantLayer::builder()
///             .from_path_prefix("/t/")
///             .default_limits(Limits::new().monthly("calls", 1))
///             .build()
///             .unwrap(),
///     )
///     .layer(quotas.layer().monthly("calls"))
///     .service(service_fn(|_req: Request<()>| async {
///         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("placed"))))
///     }));
///
/// let call = || Request::post("/t/acme/calls").body(()).unwrap();
/// assert_eq!(service.clone().oneshot(call()).await.unwrap().status(), StatusCode::OK);
/// let refused = service.oneshot(call()).await.unwrap();
/// assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert!(refused.headers().contains_key("retry-after"));
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct QuotaLayer {
    pub(crate) quotas: Quotas,
    pub(crate) concurrent: bool,
    pub(crate) monthly: Option<Arc<str>>,
}

impl QuotaLayer {
    /// Each request takes one of the tenant's concurrency slots.
    pub fn concurrent(mut self) -> Self {
        self.concurrent = true;
        self
    }

    /// Each request uses one unit of the tenant's monthly quota `name`.
    pub fn monthly(mut self, name: impl Into<String>) -> Self {
        self.monthly = Some(Arc::from(name.into()));
        self
    }
}

impl<S> Layer<S> for QuotaLayer {
    type Service = QuotaService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        QuotaService::new(inner, self)
    }
}
