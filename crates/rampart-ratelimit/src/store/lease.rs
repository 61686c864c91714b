//! Lease mode: reserve a batch of units from the shared store in one call,
//! then admit locally until they are spent.

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, RandomState},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{Demand, Outcome, RateLimitStoreError, Store, StoreFuture, Verdict};

/// How many decisions a [`LeaseStore`] made locally and how many went to
/// its primary store.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::{LeaseStore, MemoryStore};
///
/// let store = LeaseStore::new(MemoryStore::new()).lease("global", 10);
/// assert_eq!(store.stats().primary_calls(), 0);
/// ```
#[derive(Debug, Default)]
pub struct LeaseStats {
    primary_calls: AtomicU64,
    local: AtomicU64,
}

impl LeaseStats {
    /// Calls made to the primary store.
    pub fn primary_calls(&self) -> u64 {
        self.primary_calls.load(Ordering::Relaxed)
    }

    /// Requests decided from local leases alone, with no call.
    pub fn local_decisions(&self) -> u64 {
        self.local.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    tokens: u64,
    /// The shared store's `remaining` when the lease was taken.
    base_remaining: u64,
    reset: Duration,
    expires: Instant,
}

struct Inner {
    leases: HashMap<Arc<str>, u32>,
    local: Mutex<HashMap<u64, Lease>>,
    hasher: RandomState,
    ttl: Duration,
    max_keys: usize,
    stats: LeaseStats,
}

/// A store in front of a shared store (Redis) that, for the policies given a
/// lease size `L`, reserves up to `L` units per key in one call and admits
/// the next requests of that key locally until they are spent, so calls to
/// Redis drop about `L`-fold.
///
/// Every admission is still paid for in the shared store, so all instances
/// together never admit more than the quota; the cost is that units leased
/// but unused (at most instances × `L` per key, dropped after the lease's
/// time to live, default 1 s) are admitted by nobody. `remaining` in the
/// headers counts leased units as available. Policies without a lease, and
/// shadow policies, go to the primary on every request. At most `max_keys`
/// leases are held (default 100,000); past that, expired ones are dropped
/// and new keys go without a lease.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::{Demand, Key, LeaseStore, MemoryStore, Store};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // In production the primary is a `FallbackStore<RedisStore>`.
/// let store = LeaseStore::new(MemoryStore::new()).lease("global", 10);
/// let demand = [Demand::new("global", "1000/hour".parse().unwrap(), Key::text("client"))];
/// for _ in 0..3 {
///     assert!(store.decide(&demand).await.unwrap()[0].admits());
/// }
/// // The memory store cannot reserve, so every request went to it.
/// assert_eq!(store.stats().primary_calls(), 3);
/// # });
/// ```
#[derive(Clone)]
pub struct LeaseStore<P> {
    primary: P,
    inner: Arc<Inner>,
}

impl<P: fmt::Debug> fmt::Debug for LeaseStore<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseStore")
            .field("primary", &self.primary)
            .field("leases", &self.inner.leases)
            .field("ttl", &self.inner.ttl)
            .field("max_keys", &self.inner.max_keys)
            .finish_non_exhaustive()
    }
}

impl<P: Store> LeaseStore<P> {
    /// `primary` with no lease yet (add them with [`lease`](Self::lease)).
    pub fn new(primary: P) -> Self {
        Self {
            primary,
            inner: Arc::new(Inner {
                leases: HashMap::new(),
                local: Mutex::new(HashMap::new()),
                hasher: RandomState::new(),
                ttl: Duration::from_secs(1),
                max_keys: 100_000,
                stats: LeaseStats::default(),
            }),
        }
    }

    fn configure(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            f(inner);
        }
        self
    }

    /// Policy `policy` leases `size` units at a time (a size below 2 turns
    /// leasing off for it). Configure before the store is cloned.
    #[must_use]
    pub fn lease(self, policy: &str, size: u32) -> Self {
        self.configure(|inner| {
            if size >= 2 {
                inner.leases.insert(Arc::from(policy), size);
            } else {
                inner.leases.remove(policy);
            }
        })
    }

    /// How long leased units may be spent (default 1 s).
    #[must_use]
    pub fn ttl(self, ttl: Duration) -> Self {
        self.configure(|inner| inner.ttl = ttl)
    }

    /// The most keys holding a lease at once (default 100,000).
    #[must_use]
    pub fn max_keys(self, max_keys: usize) -> Self {
        self.configure(|inner| inner.max_keys = max_keys)
    }

    /// Calls saved and made.
    pub fn stats(&self) -> &LeaseStats {
        &self.inner.stats
    }
}

impl Inner {
    fn slot(&self, demand: &Demand) -> u64 {
        self.hasher.hash_one((&*demand.policy, &demand.key))
    }

    /// Spends `demand`'s cost from its key's lease, if it holds enough.
    fn take_local(
        &self,
        local: &mut HashMap<u64, Lease>,
        demand: &Demand,
        now: Instant,
    ) -> Option<Verdict> {
        let cost = u64::from(demand.cost);
        let lease = local.get_mut(&self.slot(demand))?;
        if lease.expires <= now || lease.tokens < cost {
            return None;
        }
        lease.tokens -= cost;
        Some(Verdict {
            outcome: Outcome::Admitted,
            remaining: lease.base_remaining + lease.tokens,
            reset: lease.reset,
            retry_after: Duration::ZERO,
            granted: cost,
            fallback: false,
        })
    }

    /// Gives back the units taken from local leases for `verdicts`.
    fn refund(&self, demands: &[Demand], verdicts: &[Option<Verdict>]) {
        let mut local = self.lock();
        for (i, v) in verdicts.iter().enumerate() {
            if v.is_some() {
                if let Some(lease) = local.get_mut(&self.slot(&demands[i])) {
                    lease.tokens += u64::from(demands[i].cost);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Lease>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the leases granted by the primary and refunds local takes if
    /// the request was refused.
    fn finish(
        &self,
        demands: &[Demand],
        forwarded: &[usize],
        mut verdicts: Vec<Option<Verdict>>,
        result: Result<Vec<Verdict>, RateLimitStoreError>,
        now: Instant,
    ) -> Result<Vec<Verdict>, RateLimitStoreError> {
        let refund = |verdicts: &[Option<Verdict>]| self.refund(demands, verdicts);
        let answers = match result {
            Ok(answers) if answers.len() == forwarded.len() => answers,
            Ok(_) => {
                refund(&verdicts);
                return Err(RateLimitStoreError::Protocol(
                    "wrong number of verdicts".into(),
                ));
            }
            Err(error) => {
                refund(&verdicts);
                return Err(error);
            }
        };
        // Store the units granted beyond the cost as leases, added to any
        // lease the key holds (several calls can be in flight for one key).
        let mut answers = answers;
        {
            let mut local = None;
            for (&i, answer) in forwarded.iter().zip(answers.iter_mut()) {
                let cost = u64::from(demands[i].cost);
                if answer.outcome != Outcome::Admitted || answer.granted <= cost {
                    continue;
                }
                let extra = answer.granted - cost;
                let local = local.get_or_insert_with(|| self.lock());
                let slot = self.slot(&demands[i]);
                if local.len() >= self.max_keys && !local.contains_key(&slot) {
                    local.retain(|_, lease| lease.expires > now && lease.tokens > 0);
                }
                if local.len() < self.max_keys || local.contains_key(&slot) {
                    let lease = local.entry(slot).or_insert(Lease {
                        tokens: 0,
                        base_remaining: answer.remaining,
                        reset: answer.reset,
                        expires: now,
                    });
                    if lease.expires <= now {
                        lease.tokens = 0;
                    }
                    lease.tokens += extra;
                    lease.base_remaining = answer.remaining;
                    lease.reset = answer.reset;
                    lease.expires = now + self.ttl;
                }
                answer.remaining += extra;
            }
        }
        // One leased demand refused by the shared store while another call
        // for the same key was leasing: the units may be here now.
        if let ([i], [answer]) = (forwarded, answers.as_mut_slice()) {
            if answer.outcome == Outcome::Limited
                && demands[*i].enforce
                && self.leases.contains_key(&demands[*i].policy)
            {
                if let Some(v) = self.take_local(&mut self.lock(), &demands[*i], now) {
                    *answer = v;
                }
            }
        }
        let refused = forwarded.iter().zip(&answers).any(|(&i, v)| {
            demands[i].enforce && matches!(v.outcome, Outcome::Limited | Outcome::Unavailable)
        });
        if refused {
            refund(&verdicts);
            for (i, v) in verdicts.iter_mut().enumerate() {
                if let Some(v) = v {
                    *v = Verdict {
                        remaining: v.remaining + u64::from(demands[i].cost),
                        granted: 0,
                        ..*v
                    };
                }
            }
        }
        for (&i, answer) in forwarded.iter().zip(answers) {
            verdicts[i] = Some(answer);
        }
        Ok(verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(Verdict::unavailable))
            .collect())
    }
}

/// Units taken from local leases while the primary is asked. Dropped before
/// the answer (the request was cancelled), it gives them back: the request
/// was admitted by nobody.
struct LocalTakes {
    inner: Arc<Inner>,
    demands: Vec<Demand>,
    verdicts: Option<Vec<Option<Verdict>>>,
}

impl Drop for LocalTakes {
    fn drop(&mut self) {
        if let Some(verdicts) = self.verdicts.take() {
            self.inner.refund(&self.demands, &verdicts);
        }
    }
}

impl<P: Store> Store for LeaseStore<P> {
    fn decide(&self, demands: &[Demand]) -> StoreFuture {
        let inner = &self.inner;
        let now = Instant::now();
        let mut verdicts: Vec<Option<Verdict>> = vec![None; demands.len()];
        if !inner.leases.is_empty() {
            let mut local = inner.lock();
            for (i, demand) in demands.iter().enumerate() {
                if !demand.enforce || !inner.leases.contains_key(&demand.policy) {
                    continue;
                }
                verdicts[i] = inner.take_local(&mut local, demand, now);
            }
        }
        let forwarded: Vec<usize> = (0..demands.len())
            .filter(|&i| verdicts[i].is_none())
            .collect();
        if forwarded.is_empty() {
            inner.stats.local.fetch_add(1, Ordering::Relaxed);
            return StoreFuture::ready(Ok(verdicts.into_iter().flatten().collect()));
        }
        let sub: Vec<Demand> = forwarded.iter().map(|&i| demands[i].clone()).collect();
        let reserve: Vec<u32> = sub
            .iter()
            .map(|d| match inner.leases.get(&d.policy) {
                Some(&size) if d.enforce => size.max(d.cost),
                _ => d.cost,
            })
            .collect();
        inner.stats.primary_calls.fetch_add(1, Ordering::Relaxed);
        let mut future = self.primary.decide_reserving(&sub, &reserve);
        if let Some(result) = future.take_ready() {
            let result = result.map(smallvec::SmallVec::into_vec);
            return StoreFuture::ready(inner.finish(demands, &forwarded, verdicts, result, now));
        }
        let mut taken = LocalTakes {
            inner: Arc::clone(inner),
            demands: demands.to_vec(),
            verdicts: Some(verdicts),
        };
        StoreFuture::pending(async move {
            let result = future.await;
            let verdicts = taken.verdicts.take().unwrap_or_default();
            taken
                .inner
                .finish(&taken.demands, &forwarded, verdicts, result, now)
        })
    }
}
