//! Monthly counters: atomic check-and-increment per tenant, quota and
//! calendar month, in memory or in Redis.

mod memory;
mod month;
#[cfg(feature = "redis")]
mod redis;

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

#[cfg(feature = "redis")]
pub use self::redis::RedisMonthlyStore;
pub use self::{memory::MemoryMonthlyStore, month::Month};
use crate::TenantId;

/// What a charge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Whether the units were charged (the quota had room for them).
    pub admitted: bool,
    /// Units used this month, after the call.
    pub used: u64,
}

/// Why a store could not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaStoreError {
    /// The backend failed (Redis unreachable, script error).
    #[error("monthly quota store failed: {0}")]
    Backend(String),
    /// The memory store holds as many counters as it may.
    #[error("monthly quota store is full ({0} tenants)")]
    Full(usize),
}

/// One charge against a monthly quota.
#[derive(Debug, Clone, Copy)]
pub struct Charge<'a> {
    /// The tenant.
    pub tenant: &'a TenantId,
    /// The quota's name (`calls`).
    pub quota: &'a str,
    /// The month to count in.
    pub month: Month,
    /// The tenant's limit for this quota and month.
    pub limit: u64,
    /// Units this call uses.
    pub cost: u64,
}

/// Where monthly counters live. `charge` adds `cost` to the tenant's
/// counter for the month only if the result stays within `limit`, as one
/// atomic step: concurrent charges can never together pass the limit.
pub trait MonthlyStore: Send + Sync + fmt::Debug + 'static {
    /// Checks and increments.
    fn charge(&self, charge: &Charge<'_>) -> MonthlyFuture;
}

/// The answer of a [`MonthlyStore`]: ready at once (memory) or after I/O.
pub struct MonthlyFuture {
    inner: Inner,
}

type Pending = Pin<Box<dyn Future<Output = Result<Usage, QuotaStoreError>> + Send>>;

enum Inner {
    Ready(Option<Result<Usage, QuotaStoreError>>),
    Pending(Pending),
}

impl fmt::Debug for MonthlyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.inner {
            Inner::Ready(_) => "MonthlyFuture::Ready",
            Inner::Pending(_) => "MonthlyFuture::Pending",
        })
    }
}

impl MonthlyFuture {
    /// An answer already known.
    ///
    /// ```
    /// use rampart_tenant::{MonthlyFuture, Usage};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let usage = MonthlyFuture::ready(Ok(Usage { admitted: true, used: 1 })).await.unwrap();
    /// assert!(usage.admitted);
    /// # });
    /// ```
    pub fn ready(result: Result<Usage, QuotaStoreError>) -> Self {
        Self {
            inner: Inner::Ready(Some(result)),
        }
    }

    /// An answer that needs I/O.
    pub fn pending(
        future: impl Future<Output = Result<Usage, QuotaStoreError>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Inner::Pending(Box::pin(future)),
        }
    }

    /// The answer when it is already known.
    pub(crate) fn take_ready(&mut self) -> Option<Result<Usage, QuotaStoreError>> {
        match &mut self.inner {
            Inner::Ready(result) => result.take(),
            Inner::Pending(_) => None,
        }
    }
}

impl Future for MonthlyFuture {
    type Output = Result<Usage, QuotaStoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            Inner::Ready(result) => Poll::Ready(result.take().unwrap_or_else(|| {
                Err(QuotaStoreError::Backend("polled after completion".into()))
            })),
            Inner::Pending(future) => future.as_mut().poll(cx),
        }
    }
}
