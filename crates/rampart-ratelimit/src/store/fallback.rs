//! A primary store (Redis) behind a circuit breaker, with each policy's
//! fallback when it fails or is slow.

use std::{fmt, sync::Arc, time::Duration};

use rampart_core::{BreakerConfig, CircuitBreaker};

use super::{
    BreakerStats, Demand, MemoryStore, RateLimitStoreError, RedisStore, Store, StoreFuture, Verdict,
};
use crate::Fallback;

/// A primary store with a circuit breaker in front.
///
/// When the primary errs or does not answer within the timeout (default
/// 50 ms), that same request is decided by each policy's [`Fallback`]: a
/// local [`MemoryStore`] (quota divided by the expected replicas), allow, or
/// reject with 503. The breaker then stays open: requests go straight to the
/// fallback, and every `probe_every` (default 1 s) one request probes the
/// primary; when a probe succeeds, all requests go back to the primary. A
/// probe whose request is cancelled (its `decide` future dropped) is given
/// back, and the next request probes. The breaker is rampart-core's
/// [`CircuitBreaker`], opened by one failure; each switch is logged once
/// (`tracing`, target `rampart_core::breaker`, naming the `rate limit
/// store`) and counted in [`BreakerStats`]; each fallback decision is
/// counted per policy.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use rampart_ratelimit::{FallbackStore, RedisStore};
///
/// # async fn run() -> redis::RedisResult<()> {
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let store = FallbackStore::new(RedisStore::new(connection))
///     .timeout(Duration::from_millis(50))
///     .probe_every(Duration::from_secs(1));
/// let stats = store.stats();
/// assert_eq!(stats.trips(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FallbackStore<P = RedisStore> {
    primary: P,
    local: MemoryStore,
    breaker: CircuitBreaker,
    timeout: Duration,
}

impl<P: fmt::Debug> fmt::Debug for FallbackStore<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackStore")
            .field("primary", &self.primary)
            .field("local", &self.local)
            .field("breaker", &self.breaker)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<P: Store> FallbackStore<P> {
    /// `primary` with a 50 ms timeout, probes every second, and a default
    /// [`MemoryStore`] for policies that fall back locally.
    pub fn new(primary: P) -> Self {
        Self {
            primary,
            local: MemoryStore::new(),
            breaker: breaker(Duration::from_secs(1)),
            timeout: Duration::from_millis(50),
        }
    }

    /// How long to wait for the primary before falling back (default 50 ms).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the breaker stays open before a probe (default 1 s).
    #[must_use]
    pub fn probe_every(mut self, every: Duration) -> Self {
        self.breaker = breaker(every);
        self
    }

    /// The memory store used by policies with [`Fallback::Local`].
    #[must_use]
    pub fn local(mut self, local: MemoryStore) -> Self {
        self.local = local;
        self
    }

    /// Switch counts and the breaker's state.
    pub fn stats(&self) -> Arc<BreakerStats> {
        self.breaker.stats()
    }
}

/// One failure opens it: the fallback costs nothing, a slow Redis costs
/// every request its timeout.
fn breaker(probe_every: Duration) -> CircuitBreaker {
    CircuitBreaker::new(
        "rate limit store",
        BreakerConfig {
            failures: 1,
            cooldown: probe_every,
        },
    )
}

fn decide_fallback(local: &MemoryStore, demands: &[Demand]) -> Vec<Verdict> {
    let reject = demands
        .iter()
        .any(|d| d.enforce && d.fallback == Fallback::Reject);
    let mut verdicts: Vec<Verdict> = demands
        .iter()
        .map(|d| match d.fallback {
            Fallback::Reject => Verdict::unavailable(),
            _ => Verdict::allowed_blind(d.quota),
        })
        .collect();
    if reject {
        return verdicts;
    }
    let mut index = Vec::new();
    let locals: Vec<Demand> = demands
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match d.fallback {
            Fallback::Local { replicas } => {
                index.push(i);
                Some(Demand {
                    quota: d.quota.divided_among(replicas),
                    ..d.clone()
                })
            }
            _ => None,
        })
        .collect();
    if !locals.is_empty() {
        for (i, mut v) in index.into_iter().zip(local.decide_now(&locals)) {
            v.fallback = true;
            verdicts[i] = v;
        }
    }
    verdicts
}

impl<P: Store> Store for FallbackStore<P> {
    fn decide(&self, demands: &[Demand]) -> StoreFuture {
        self.decide_reserving(demands, &[])
    }

    fn decide_reserving(&self, demands: &[Demand], reserve: &[u32]) -> StoreFuture {
        let Some(permit) = self.breaker.try_acquire() else {
            return StoreFuture::ready(Ok(decide_fallback(&self.local, demands)));
        };
        let mut primary = self.primary.decide_reserving(demands, reserve);
        if let Some(result) = primary.take_ready() {
            return StoreFuture::ready(Ok(match result {
                Ok(verdicts) => {
                    permit.success();
                    verdicts.into_vec()
                }
                Err(error) => {
                    permit.failure(&error);
                    decide_fallback(&self.local, demands)
                }
            }));
        }
        let demands = demands.to_vec();
        let local = self.local.clone();
        let timeout = self.timeout;
        // The permit moves into the future: dropped with it before an
        // answer (the request was cancelled), a probe is given back.
        StoreFuture::pending(async move {
            let error = match tokio::time::timeout(timeout, primary).await {
                Ok(Ok(verdicts)) => {
                    permit.success();
                    return Ok(verdicts);
                }
                Ok(Err(error)) => error,
                Err(_) => RateLimitStoreError::Timeout(timeout),
            };
            permit.failure(&error);
            Ok(decide_fallback(&local, &demands))
        })
    }
}
