//! The in-process store: governor's keyed GCRA state (a `DashMap` of atomic
//! theoretical arrival times), with idle keys evicted and a hard cap.

use std::{
    cell::Cell,
    fmt,
    hash::{BuildHasher, Hash, Hasher, RandomState},
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use governor::{
    nanos::Nanos,
    state::{
        StateStore,
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
    },
};
use nohash_hasher::BuildNoHashHasher;
use rampart_core::Clock;

use crate::Key;

use super::{
    Demand, Store, StoreFuture, Verdict, Verdicts,
    gcra::{self, Params, Step},
};

// The map's keys are already hashes under a per-store random seed (see
// `MemoryStore::slot`): hashing them again would only cost time.
type Map = DashMapStateStore<u64, BuildNoHashHasher<u64>>;

/// What the memory store does with a new key when it already holds
/// `max_keys` keys and evicting idle ones freed no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AtCapacity {
    /// New keys share one of `slots` overflow buckets, chosen by the key's
    /// hash: they are still limited, more strictly (several clients share a
    /// quota), and memory stays bounded. Keys already stored are unaffected.
    #[default]
    SharedBuckets,
    /// New keys are admitted without being counted (fail open).
    Admit,
}

const OVERFLOW_SLOTS: u64 = 4096;
/// Forced sweeps at the cap run at most this often, so a flood of new keys
/// cannot make every request walk the whole map.
const FORCED_SWEEP_GAP: Duration = Duration::from_secs(1);

/// Builds a [`MemoryStore`].
#[derive(Debug)]
#[must_use]
pub struct MemoryStoreBuilder {
    clock: Option<Arc<dyn Clock>>,
    max_keys: usize,
    sweep_every: Duration,
    at_capacity: AtCapacity,
}

impl MemoryStoreBuilder {
    /// The clock (default: the system's monotonic clock, read through
    /// quanta, as governor does; tests use `ManualClock`).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The most keys kept (default 1,000,000: about 40 MB, see the README).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// How often idle keys (whose quota is back in full, so forgetting them
    /// changes no decision) are evicted, on the request path (default 60 s).
    pub fn sweep_every(mut self, every: Duration) -> Self {
        self.sweep_every = every;
        self
    }

    /// What to do with new keys at the cap (default: shared buckets).
    pub fn at_capacity(mut self, at_capacity: AtCapacity) -> Self {
        self.at_capacity = at_capacity;
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        let ticker = if let Some(clock) = self.clock {
            Ticker::Custom(clock.now(), clock)
        } else {
            let clock = quanta::Clock::new();
            Ticker::System(clock.raw(), clock)
        };
        let sweep_every = u64::try_from(self.sweep_every.as_nanos()).unwrap_or(u64::MAX);
        MemoryStore {
            inner: Arc::new(Inner {
                map: Map::default(),
                overflow: Map::default(),
                hasher: RandomState::new(),
                ip_hasher: foldhash::fast::RandomState::default(),
                ticker,
                max_keys: self.max_keys,
                at_capacity: self.at_capacity,
                approx_len: AtomicUsize::new(0),
                next_sweep: AtomicU64::new(sweep_every.saturating_add(TICK_ORIGIN)),
                next_forced_sweep: AtomicU64::new(0),
                sweep_every,
            }),
        }
    }
}

/// GCRA state in this process's memory, on governor's keyed state store.
///
/// Memory is bounded: keys whose quota is back in full are evicted every
/// [`sweep_every`](MemoryStoreBuilder::sweep_every) (this changes no
/// decision: such a key is indistinguishable from a new one), and at most
/// [`max_keys`](MemoryStoreBuilder::max_keys) keys are kept; see
/// [`AtCapacity`] for what happens at the cap. Keys are stored as 64-bit
/// keyed hashes of (policy, key), 16 bytes an entry.
///
/// Several policies of one request: enforcing demands are charged one by one
/// with compare-and-swap; if one is limited, those already charged are
/// refunded. A concurrent request may see a charge that is about to be
/// refunded and be limited by it (never the reverse): this store never
/// admits more than the quota.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_core::ManualClock;
/// use rampart_ratelimit::MemoryStore;
///
/// let clock = ManualClock::new();
/// let store = MemoryStore::builder()
///     .clock(clock.clone())
///     .max_keys(100_000)
///     .sweep_every(Duration::from_secs(30))
///     .build();
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    map: Map,
    overflow: Map,
    /// SipHash under a random key for names, which a client may choose
    /// freely (a login name): finding two that collide, and so share one
    /// entry, is infeasible.
    hasher: RandomState,
    /// foldhash under a random seed for client addresses, which a client
    /// cannot choose freely; a few times cheaper than SipHash on the path of
    /// every request.
    ip_hasher: foldhash::fast::RandomState,
    ticker: Ticker,
    max_keys: usize,
    at_capacity: AtCapacity,
    approx_len: AtomicUsize,
    next_sweep: AtomicU64,
    next_forced_sweep: AtomicU64,
    sweep_every: u64,
}

/// Where a store's time comes from.
enum Ticker {
    /// The default: quanta's calibrated TSC reading (a few nanoseconds,
    /// where `Instant::now` costs a `clock_gettime`), monotonic, as governor
    /// itself uses. The raw reading at build time.
    System(u64, quanta::Clock),
    /// A [`Clock`] given to the builder (tests: `ManualClock`), from this instant.
    Custom(Instant, Arc<dyn Clock>),
}

/// Ticks start here, not at 0: governor's state reads 0 as "no state".
const TICK_ORIGIN: u64 = 1_000_000_000;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.inner.approx_len.load(Ordering::Relaxed))
            .field("max_keys", &self.inner.max_keys)
            .field("at_capacity", &self.inner.at_capacity)
            .finish_non_exhaustive()
    }
}

/// What [`MemoryStore::decide_ip`] did; the verdict is worked out only
/// when asked for (an admitted request with nothing to report needs none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpDecision {
    seen: Option<u64>,
    now: u64,
    params: Params,
    charged: bool,
}

impl IpDecision {
    /// Admitted and charged.
    pub(crate) fn charged(&self) -> bool {
        self.charged
    }

    /// The verdict, the same as `decide_now`'s for this demand.
    pub(crate) fn verdict(&self) -> Verdict {
        if self.charged {
            return gcra::charged_verdict(self.seen, self.now, self.params);
        }
        let step = gcra::step(self.seen, self.now, self.params);
        if self.charged || step.new_tat.is_none() {
            step.verdict
        } else {
            step.uncharged
        }
    }
}

/// What [`MemoryStore::decide_ip`] needs of one policy, worked out once
/// when the layer is built: the store's address hasher that has taken in
/// the policy's name, and the policy's GCRA numbers (their divisions are
/// not redone on every request).
#[derive(Clone)]
pub(crate) struct IpPolicy {
    hasher: foldhash::fast::FoldHasher<'static>,
    params: Params,
}

impl fmt::Debug for IpPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpPolicy")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

enum Slot<'a> {
    In(&'a Map, u64),
    Uncounted,
}

impl MemoryStore {
    /// A store with the defaults (system clock, 1,000,000 keys, sweep every 60 s).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            clock: None,
            max_keys: 1_000_000,
            sweep_every: Duration::from_secs(60),
            at_capacity: AtCapacity::default(),
        }
    }

    /// Keys held now (exact, walks the shards).
    pub fn len(&self) -> usize {
        self.inner.map.len() + self.inner.overflow.len()
    }

    /// `true` when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Evicts every key whose quota is back in full, now. (The store also
    /// does this by itself every `sweep_every`.)
    pub fn sweep(&self) {
        let now = self.now();
        self.sweep_at(now);
    }

    #[cold]
    #[inline(never)]
    fn sweep_at(&self, now: u64) {
        let inner = &self.inner;
        ShrinkableKeyedStateStore::retain_recent(&inner.map, Nanos::new(now));
        ShrinkableKeyedStateStore::retain_recent(&inner.overflow, Nanos::new(now));
        inner.map.shrink_to_fit();
        inner.approx_len.store(inner.map.len(), Ordering::Relaxed);
    }

    /// Nanoseconds since the store was built, plus `TICK_ORIGIN`.
    #[inline(always)]
    fn now(&self) -> u64 {
        let elapsed = match &self.inner.ticker {
            Ticker::System(start, clock) => {
                let raw = clock.raw();
                if raw <= *start {
                    0
                } else {
                    clock.delta_as_nanos(*start, raw)
                }
            }
            Ticker::Custom(start, clock) => {
                let elapsed = clock.now().saturating_duration_since(*start);
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX / 2)
            }
        };
        elapsed.saturating_add(TICK_ORIGIN)
    }

    #[inline(always)]
    fn maybe_sweep(&self, now: u64) {
        let next = self.inner.next_sweep.load(Ordering::Relaxed);
        if now >= next
            && self
                .inner
                .next_sweep
                .compare_exchange(
                    next,
                    now.saturating_add(self.inner.sweep_every),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.sweep_at(now);
        }
    }

    fn slot(&self, demand: &Demand, now: u64) -> Slot<'_> {
        let inner = &self.inner;
        let hash = match &demand.key {
            Key::Ip(ip) => inner.ip_hasher.hash_one((&*demand.policy, ip)),
            key => inner.hasher.hash_one((&*demand.policy, key)),
        };
        self.slot_at(hash, now)
    }

    #[inline(always)]
    fn slot_at(&self, hash: u64, now: u64) -> Slot<'_> {
        let inner = &self.inner;
        if inner.approx_len.load(Ordering::Relaxed) < inner.max_keys
            || inner.map.contains_key(&hash)
        {
            return Slot::In(&inner.map, hash);
        }
        self.slot_at_capacity(hash, now)
    }

    /// [`Self::slot_at`] for a new key when the store is full.
    #[cold]
    #[inline(never)]
    fn slot_at_capacity(&self, hash: u64, now: u64) -> Slot<'_> {
        let inner = &self.inner;
        let next = inner.next_forced_sweep.load(Ordering::Relaxed);
        let gap = FORCED_SWEEP_GAP.as_nanos() as u64;
        if now >= next
            && inner
                .next_forced_sweep
                .compare_exchange(next, now + gap, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_at(now);
            if inner.approx_len.load(Ordering::Relaxed) < inner.max_keys {
                return Slot::In(&inner.map, hash);
            }
        }
        match inner.at_capacity {
            AtCapacity::SharedBuckets => Slot::In(&inner.overflow, hash % OVERFLOW_SLOTS),
            AtCapacity::Admit => Slot::Uncounted,
        }
    }

    /// Applies `params` at `slot`, charging when `charge` and admissible.
    fn apply(&self, slot: &Slot<'_>, now: u64, params: Params, charge: bool) -> (Step, bool) {
        let (seen, charged) = self.charge(slot, now, params, charge);
        (gcra::step(seen, now, params), charged)
    }

    /// The compare-and-swap of [`Self::apply`]: the state it saw (from which
    /// the verdict is made) and whether it charged.
    #[inline(always)]
    fn charge(
        &self,
        slot: &Slot<'_>,
        now: u64,
        params: Params,
        charge: bool,
    ) -> (Option<u64>, bool) {
        let Slot::In(map, hash) = slot else {
            return (None, false);
        };
        let fresh = Cell::new(false);
        // The closure may run several times (compare-and-swap retries); the
        // state the last run saw is the one the verdict is made from.
        let seen = Cell::new(None);
        let charged = map
            .measure_and_replace(hash, |prev| {
                let prev = prev.map(Nanos::as_u64);
                fresh.set(prev.is_none());
                seen.set(prev);
                match gcra::next_tat(prev, now, params) {
                    Some(tat) if charge => Ok(((), Nanos::new(tat))),
                    _ => Err(()),
                }
            })
            .is_ok();
        if fresh.get() && std::ptr::eq(*map, &self.inner.map) {
            self.inner.approx_len.fetch_add(1, Ordering::Relaxed);
        }
        (seen.get(), charged)
    }

    fn refund(slot: &Slot<'_>, increment: u64) {
        if let Slot::In(map, hash) = slot {
            let _ = map.measure_and_replace(hash, |prev| {
                let tat = prev.ok_or(())?.as_u64();
                Ok::<_, ()>(((), Nanos::new(tat.saturating_sub(increment).max(1))))
            });
        }
    }

    /// What [`Self::decide_ip`] needs of the policy named `policy`: the
    /// layer makes one per client-IP policy when it is built.
    pub(crate) fn ip_policy(&self, policy: &str, quota: crate::Quota, cost: u32) -> IpPolicy {
        let mut hasher = self.inner.ip_hasher.build_hasher();
        policy.hash(&mut hasher);
        IpPolicy {
            hasher,
            params: Params::new(quota, cost),
        }
    }

    /// One demand keyed on a client address, decided with no `Demand` built
    /// and nothing allocated: the layer's path for a request that exactly
    /// one policy applies to. Same entry and same verdict as `decide_now`
    /// (the hash of `(policy, ip)` is the same, continued from `primed`).
    #[inline(always)]
    pub(crate) fn decide_ip(&self, policy: &IpPolicy, ip: &IpAddr) -> IpDecision {
        let mut hasher = policy.hasher.clone();
        ip.hash(&mut hasher);
        let now = self.now();
        self.maybe_sweep(now);
        let slot = self.slot_at(hasher.finish(), now);
        let params = policy.params;
        let (seen, charged) = self.charge(&slot, now, params, true);
        IpDecision {
            seen,
            now,
            params,
            charged,
        }
    }

    /// Decides synchronously (the [`Store`] impl wraps this).
    pub(crate) fn decide_now(&self, demands: &[Demand]) -> Verdicts {
        let now = self.now();
        self.maybe_sweep(now);
        if let [demand] = demands {
            // One policy: nothing to refund, no bookkeeping to allocate.
            let slot = self.slot(demand, now);
            let (step, charged) =
                self.apply(&slot, now, Params::new(demand.quota, demand.cost), true);
            let verdict = if charged || step.new_tat.is_none() {
                step.verdict
            } else {
                step.uncharged
            };
            return smallvec::smallvec![verdict];
        }
        let slots: Vec<(Slot<'_>, Params)> = demands
            .iter()
            .map(|d| (self.slot(d, now), Params::new(d.quota, d.cost)))
            .collect();
        let mut verdicts: Vec<Option<Verdict>> = vec![None; demands.len()];
        let mut charged: Vec<usize> = Vec::new();
        let mut all_pass = true;
        for i in (0..demands.len()).filter(|&i| demands[i].enforce) {
            let (slot, params) = &slots[i];
            let (step, did_charge) = self.apply(slot, now, *params, all_pass);
            if did_charge {
                charged.push(i);
                verdicts[i] = Some(step.verdict);
            } else if step.new_tat.is_some() {
                verdicts[i] = Some(step.uncharged);
            } else {
                all_pass = false;
                verdicts[i] = Some(step.verdict);
            }
        }
        if !all_pass {
            for i in charged {
                let (slot, params) = &slots[i];
                Self::refund(slot, params.increment());
                if let Some(v) = verdicts[i].as_mut() {
                    // Report the quota as it is after the refund.
                    v.remaining = v.remaining.saturating_add(u64::from(demands[i].cost));
                    v.granted = 0;
                }
            }
        }
        for i in (0..demands.len()).filter(|&i| !demands[i].enforce) {
            let (slot, params) = &slots[i];
            let (step, did_charge) = self.apply(slot, now, *params, all_pass);
            verdicts[i] = Some(if did_charge || step.new_tat.is_none() {
                step.verdict
            } else {
                step.uncharged
            });
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(Verdict::unavailable))
            .collect()
    }
}

impl Store for MemoryStore {
    fn decide(&self, demands: &[Demand]) -> StoreFuture {
        StoreFuture::ready_inline(Ok(self.decide_now(demands)))
    }

    fn as_memory(&self) -> Option<&MemoryStore> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use rampart_core::ManualClock;

    use super::*;

    #[test]
    fn only_a_memory_store_is_taken_for_one() {
        #[derive(Debug)]
        struct Elsewhere;
        impl Store for Elsewhere {
            fn decide(&self, _: &[Demand]) -> StoreFuture {
                StoreFuture::ready(Ok(Vec::new()))
            }
        }
        let store = MemoryStore::new();
        assert!(store.as_memory().is_some());
        // Through a pointer too: the layer's fast path no longer needs the bare type.
        assert!(Arc::new(store).as_memory().is_some());
        assert!(Elsewhere.as_memory().is_none());
    }
    use crate::Outcome;

    fn demand(policy: &str, quota: &str, key: &str) -> Demand {
        Demand::new(policy, quota.parse().unwrap(), Key::text(key))
    }

    #[test]
    fn idle_keys_are_evicted_without_changing_decisions() {
        let clock = ManualClock::new();
        let store = MemoryStore::builder()
            .clock(clock.clone())
            .sweep_every(Duration::from_secs(10))
            .build();
        for i in 0..100 {
            store.decide_now(&[demand("p", "2/minute", &i.to_string())]);
        }
        assert_eq!(store.len(), 100);
        store.decide_now(&[demand("p", "2/minute", "busy")]);
        store.decide_now(&[demand("p", "2/minute", "busy")]);
        clock.advance(Duration::from_secs(31));
        store.sweep();
        // Everyone's quota is back except `busy`'s (one unit returns every 30 s).
        assert_eq!(store.len(), 1);
        let v = store.decide_now(&[demand("p", "2/minute", "busy")]);
        assert_eq!((v[0].outcome, v[0].remaining), (Outcome::Admitted, 0));
    }

    #[test]
    fn automatic_sweep_runs_on_the_request_path() {
        let clock = ManualClock::new();
        let store = MemoryStore::builder()
            .clock(clock.clone())
            .sweep_every(Duration::from_secs(10))
            .build();
        for i in 0..50 {
            store.decide_now(&[demand("p", "100/s", &i.to_string())]);
        }
        clock.advance(Duration::from_secs(11));
        store.decide_now(&[demand("p", "100/s", "new")]);
        assert!(store.len() <= 1, "{}", store.len());
    }

    #[test]
    fn cap_holds_and_new_keys_are_still_limited() {
        let clock = ManualClock::new();
        let store = MemoryStore::builder().clock(clock).max_keys(10).build();
        for i in 0..10 {
            store.decide_now(&[demand("p", "1/hour", &i.to_string())]);
        }
        for i in 10..10_000 {
            store.decide_now(&[demand("p", "1/hour", &i.to_string())]);
        }
        assert!(store.len() <= 10 + OVERFLOW_SLOTS as usize);
        // A new key at the cap is counted in a shared bucket: its second request is limited.
        let v1 = store.decide_now(&[demand("p", "1/hour", "late")]);
        let v2 = store.decide_now(&[demand("p", "1/hour", "late")]);
        assert_eq!(v2[0].outcome, Outcome::Limited, "{v1:?}");
        // Keys stored before the cap keep their own state.
        let v = store.decide_now(&[demand("p", "1/hour", "3")]);
        assert_eq!(v[0].outcome, Outcome::Limited);
    }

    #[test]
    fn cap_admit_mode_admits_uncounted() {
        let store = MemoryStore::builder()
            .max_keys(1)
            .at_capacity(AtCapacity::Admit)
            .build();
        store.decide_now(&[demand("p", "1/hour", "a")]);
        for _ in 0..3 {
            let v = store.decide_now(&[demand("p", "1/hour", "b")]);
            assert_eq!(v[0].outcome, Outcome::Admitted);
        }
        assert_eq!(store.len(), 1);
    }
}
