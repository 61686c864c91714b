//! Where the counts live: [`MemoryStore`] (one process), [`RedisStore`]
//! (shared by replicas) and [`FallbackStore`] (Redis with a circuit breaker
//! and a per-policy fallback).

// The breaker (rampart-core's) only guards a store that can fail: Redis.
#[cfg(feature = "redis")]
mod fallback;
mod gcra;
mod lease;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

pub(crate) use self::memory::IpPolicy;
#[cfg(feature = "redis")]
pub use self::{fallback::FallbackStore, redis::RedisStore};
pub use self::{
    lease::{LeaseStats, LeaseStore},
    memory::{AtCapacity, MemoryStore, MemoryStoreBuilder},
};
use crate::{Fallback, Key, Quota};
/// The switch counts of a [`FallbackStore`]'s circuit breaker: rampart-core's
/// type, re-exported where rampart-metrics and users have always named it.
#[cfg(feature = "redis")]
pub use rampart_core::BreakerStats;

/// One policy's claim on one key, as the layer hands it to a store.
#[derive(Debug, Clone)]
pub struct Demand {
    /// The policy's name (part of the store key).
    pub policy: Arc<str>,
    /// The quota to decide with.
    pub quota: Quota,
    /// Whose quota.
    pub key: Key,
    /// Units to spend.
    pub cost: u32,
    /// `true` for an enforcing policy: all enforcing demands of a request are
    /// charged together or not at all. A shadow demand (`false`) is charged on
    /// its own, only if the enforcing ones all pass and it would pass itself.
    pub enforce: bool,
    /// What a [`FallbackStore`](crate::FallbackStore) does with this demand
    /// while its primary store is away.
    pub fallback: Fallback,
}

impl Demand {
    /// An enforcing demand for one unit of `policy`'s `quota` on `key`, with
    /// the default [`Fallback`]; set the public fields for anything else.
    ///
    /// ```
    /// use rampart_ratelimit::{Demand, Key};
    ///
    /// let demand = Demand::new("login", "5/15minutes".parse().unwrap(), Key::text("ada"));
    /// assert_eq!((demand.cost, demand.enforce), (1, true));
    /// ```
    pub fn new(policy: impl Into<Arc<str>>, quota: Quota, key: Key) -> Self {
        Self {
            policy: policy.into(),
            quota,
            key,
            cost: 1,
            enforce: true,
            fallback: Fallback::default(),
        }
    }
}

/// A store's answer for one [`Demand`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// What happened.
    pub outcome: Outcome,
    /// Units left after this request (0 when limited).
    pub remaining: u64,
    /// Time until the whole burst is available again.
    pub reset: Duration,
    /// When limited: time until this demand would be admitted (zero otherwise).
    pub retry_after: Duration,
    /// Units charged: the demand's cost, more when a reservation was asked
    /// for and available ([`Store::decide_reserving`]), 0 when not charged.
    pub granted: u64,
    /// `true` when a fallback, not the primary store, decided.
    pub fallback: bool,
}

/// The outcome of one [`Demand`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Within quota (charged if every enforcing demand of the request was).
    Admitted,
    /// Over quota.
    Limited,
    /// The store is away and the policy's fallback is [`Fallback::Reject`].
    Unavailable,
}

impl Verdict {
    /// `true` when this verdict lets the request through.
    pub fn admits(&self) -> bool {
        self.outcome == Outcome::Admitted
    }

    /// An admitted verdict that reports nothing useful (fallback `Allow`).
    #[cfg(feature = "redis")]
    pub(crate) fn allowed_blind(quota: Quota) -> Self {
        Self {
            outcome: Outcome::Admitted,
            remaining: quota.burst(),
            reset: Duration::ZERO,
            retry_after: Duration::ZERO,
            granted: 0,
            fallback: true,
        }
    }

    /// The verdict of a fallback `Reject`.
    pub(crate) fn unavailable() -> Self {
        Self {
            outcome: Outcome::Unavailable,
            remaining: 0,
            reset: Duration::ZERO,
            retry_after: Duration::ZERO,
            granted: 0,
            fallback: true,
        }
    }
}

/// Why a store could not decide.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitStoreError {
    /// The backend answered with an error or could not be reached.
    #[error("rate limit store error: {0}")]
    Backend(String),
    /// The backend did not answer in time.
    #[error("rate limit store timed out after {0:?}")]
    Timeout(Duration),
    /// The backend answered something the store did not expect.
    #[error("rate limit store answered unexpectedly: {0}")]
    Protocol(String),
}

/// The verdicts of one request, inline for up to two policies (the memory
/// store's answer allocates nothing).
pub(crate) type Verdicts = smallvec::SmallVec<[Verdict; 2]>;

type BoxFuture = Pin<Box<dyn Future<Output = Result<Vec<Verdict>, RateLimitStoreError>> + Send>>;

/// What [`Store::decide`] returns: an answer at once (memory) or a boxed
/// future (network). The layer takes a ready answer synchronously, so the
/// memory store's path neither boxes nor clones the inner service.
#[must_use = "a store future does nothing until polled"]
pub struct StoreFuture {
    state: FutureState,
}

enum FutureState {
    Ready(Option<Result<Verdicts, RateLimitStoreError>>),
    Pending(BoxFuture),
}

impl StoreFuture {
    /// An answer that is already known.
    pub fn ready(result: Result<Vec<Verdict>, RateLimitStoreError>) -> Self {
        Self::ready_inline(result.map(Verdicts::from_vec))
    }

    /// An answer that is already known, without a `Vec`.
    pub(crate) fn ready_inline(result: Result<Verdicts, RateLimitStoreError>) -> Self {
        Self {
            state: FutureState::Ready(Some(result)),
        }
    }

    /// An answer that needs I/O.
    pub fn pending<F>(future: F) -> Self
    where
        F: Future<Output = Result<Vec<Verdict>, RateLimitStoreError>> + Send + 'static,
    {
        Self {
            state: FutureState::Pending(Box::pin(future)),
        }
    }

    /// Takes the answer if it is already known.
    pub(crate) fn take_ready(&mut self) -> Option<Result<Verdicts, RateLimitStoreError>> {
        match &mut self.state {
            FutureState::Ready(result) => result.take(),
            FutureState::Pending(_) => None,
        }
    }
}

impl Future for StoreFuture {
    type Output = Result<Vec<Verdict>, RateLimitStoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            FutureState::Ready(result) => Poll::Ready(
                result
                    .take()
                    .unwrap_or_else(|| {
                        Err(RateLimitStoreError::Protocol(
                            "polled after completion".into(),
                        ))
                    })
                    .map(Verdicts::into_vec),
            ),
            FutureState::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for StoreFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            FutureState::Ready(_) => "StoreFuture::Ready",
            FutureState::Pending(_) => "StoreFuture::Pending",
        })
    }
}

/// A place where GCRA state lives.
///
/// A store decides all the demands of one request together: enforcing
/// demands are charged all or none (see [`Demand::enforce`]). It answers one
/// [`Verdict`] per demand, in order.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::{Demand, Key, MemoryStore, Outcome, Store};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let demand = Demand::new("login", "2/minute".parse().unwrap(), Key::text("ada"));
/// let demands = [demand];
/// assert_eq!(store.decide(&demands).await.unwrap()[0].outcome, Outcome::Admitted);
/// assert_eq!(store.decide(&demands).await.unwrap()[0].outcome, Outcome::Admitted);
/// assert_eq!(store.decide(&demands).await.unwrap()[0].outcome, Outcome::Limited);
/// # });
/// ```
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// Decides `demands` together.
    fn decide(&self, demands: &[Demand]) -> StoreFuture;

    /// Decides `demands` together, charging demand `i` up to `reserve[i]`
    /// units (at least its cost) when that many are available, and reporting
    /// what was charged in [`Verdict::granted`]: what [`LeaseStore`] asks for.
    /// Stores that cannot reserve charge the cost only (the default).
    ///
    /// [`LeaseStore`]: crate::LeaseStore
    fn decide_reserving(&self, demands: &[Demand], reserve: &[u32]) -> StoreFuture {
        let _ = reserve;
        self.decide(demands)
    }

    /// This store as a [`MemoryStore`], when it is one (the default: `None`).
    ///
    /// A [`RateLimitLayer`](crate::RateLimitLayer) on a store that answers
    /// `Some` decides a request that one client-IP policy applies to on the
    /// memory store directly: no [`Demand`], no [`StoreFuture`], nothing
    /// allocated. Only `MemoryStore` overrides it; a store that wraps one
    /// may forward to it.
    fn as_memory(&self) -> Option<&MemoryStore> {
        None
    }
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn decide(&self, demands: &[Demand]) -> StoreFuture {
        (**self).decide(demands)
    }

    fn decide_reserving(&self, demands: &[Demand], reserve: &[u32]) -> StoreFuture {
        (**self).decide_reserving(demands, reserve)
    }

    fn as_memory(&self) -> Option<&MemoryStore> {
        (**self).as_memory()
    }
}
