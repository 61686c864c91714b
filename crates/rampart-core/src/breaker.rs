//! A circuit breaker: after enough consecutive failures a dependency (a
//! Redis store, a database, a telephony provider) is skipped for a
//! cool-down, then one probe call decides whether it is back.
//!
//! One breaker for the whole workspace: rampart-ratelimit's `FallbackStore`
//! puts it in front of Redis, and the reference app in front of its
//! database pools and its telephony providers.
//!
//! - **Closed**: every call goes through ([`CircuitBreaker::try_acquire`]
//!   gives a [`Permit`]). [`BreakerConfig::failures`] consecutive failures
//!   open the circuit.
//! - **Open**: no permit until [`BreakerConfig::cooldown`] has passed since
//!   the circuit opened.
//! - **Half-open**: the first call after the cool-down is the probe; no
//!   other permit while it is out. Its success closes the circuit, its
//!   failure opens it for another cool-down.
//!
//! Cancellation: a [`Permit`] dropped before it reports (the caller's
//! future was dropped: a client hung up, a timeout fired) changes nothing,
//! unless it is the probe: then the probe is given back, with no verdict,
//! and the next call probes. A dropped probe never leaves the breaker
//! half-open for good, and never closes it.
//!
//! Stale reports: a permit issued before the circuit last opened reports on
//! a call that started before the outage was known, which says nothing
//! about the dependency now: a late success does not close the circuit,
//! and a late failure does not extend the cool-down.
//!
//! Hand-written rather than taken from crates.io: the breaker crates there
//! wrap each call in their own future and error types; this one needs only
//! "may I call now" and "how did it go". The closed path is two atomic
//! loads and no lock, so it sits on a rate limiter's hot path.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use rampart_core::{BreakerConfig, BreakerState, CircuitBreaker, ManualClock};
//!
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::new(
//!     "payment provider",
//!     BreakerConfig { failures: 2, cooldown: Duration::from_secs(10) },
//! )
//! .with_clock(clock.clone());
//!
//! // Two failures in a row open the circuit.
//! breaker.try_acquire().unwrap().failure("connection refused");
//! breaker.try_acquire().unwrap().failure("connection refused");
//! assert_eq!(breaker.state(), BreakerState::Open);
//! assert!(breaker.try_acquire().is_none(), "skipped during the cool-down");
//!
//! // After the cool-down one call probes; a probe dropped unanswered (its
//! // request was cancelled) lets the next call probe instead.
//! clock.advance(Duration::from_secs(10));
//! let probe = breaker.try_acquire().unwrap();
//! assert!(probe.is_probe());
//! assert!(breaker.try_acquire().is_none(), "one probe at a time");
//! drop(probe);
//! let probe = breaker.try_acquire().unwrap();
//! probe.success();
//! assert_eq!(breaker.state(), BreakerState::Closed);
//! assert_eq!(breaker.stats().trips(), 1);
//! assert_eq!(breaker.stats().recoveries(), 1);
//! ```

use std::{
    borrow::Cow,
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{Clock, SystemClock};

/// How a [`CircuitBreaker`] trips and recovers.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_core::BreakerConfig;
///
/// let config = BreakerConfig::default();
/// assert_eq!(config.failures, 5);
/// assert_eq!(config.cooldown, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit (0 is taken as 1).
    pub failures: u32,
    /// How long an open circuit skips the dependency before one probe.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// The state a [`CircuitBreaker`] is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls skip the dependency until the cool-down ends.
    Open,
    /// One probe call is out; others skip the dependency until it answers.
    HalfOpen,
}

/// How often a [`CircuitBreaker`] switched, for dashboards. Shared: the
/// breaker keeps counting into the `Arc` that [`CircuitBreaker::stats`]
/// hands out.
///
/// # Example
///
/// ```
/// use rampart_core::BreakerStats;
///
/// let stats = BreakerStats::default();
/// assert_eq!(stats.trips(), 0);
/// assert!(!stats.is_open());
/// ```
#[derive(Debug, Default)]
pub struct BreakerStats {
    trips: AtomicU64,
    recoveries: AtomicU64,
    probes: AtomicU64,
    open: AtomicBool,
}

impl BreakerStats {
    /// Times the dependency was given up (closed → open).
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    /// Times the dependency was taken back (a probe succeeded: open →
    /// closed).
    pub fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// Half-open probes sent to the dependency.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }

    /// Whether the circuit is open (or half-open) now.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }
}

// The state word: the generation (times the circuit opened) above two bits
// of phase. One word, so that a permit's generation and the phase are read
// and changed together.
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const PHASE: u64 = 0b11;

const fn word(generation: u64, phase: u64) -> u64 {
    (generation << 2) | phase
}

struct Inner {
    state: AtomicU64,
    /// Consecutive failures while closed.
    failures: AtomicU32,
    /// When the next probe may go, in nanoseconds since `origin`.
    open_until: AtomicU64,
    origin: Instant,
    clock: Arc<dyn Clock>,
    config: BreakerConfig,
    name: Cow<'static, str>,
    stats: Arc<BreakerStats>,
}

/// A circuit breaker in front of one dependency, shared by its clones (an
/// `Arc`). See the [module docs](self).
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A closed breaker for the dependency `name` (what its log lines name:
    /// `database replica`, `rate limit store`).
    pub fn new(name: impl Into<Cow<'static, str>>, config: BreakerConfig) -> Self {
        Self::build(name.into(), config, Arc::new(SystemClock))
    }

    /// The same breaker reading time from `clock` (tests move a
    /// [`ManualClock`](crate::ManualClock) instead of sleeping). Call it
    /// before the breaker is cloned or used: it starts afresh.
    #[must_use]
    pub fn with_clock(self, clock: impl Clock) -> Self {
        Self::build(self.inner.name.clone(), self.inner.config, Arc::new(clock))
    }

    fn build(name: Cow<'static, str>, config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: AtomicU64::new(word(0, CLOSED)),
                failures: AtomicU32::new(0),
                open_until: AtomicU64::new(0),
                origin: clock.now(),
                clock,
                config: BreakerConfig {
                    failures: config.failures.max(1),
                    ..config
                },
                name,
                stats: Arc::default(),
            }),
        }
    }

    /// The dependency's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How it trips and recovers.
    pub fn config(&self) -> BreakerConfig {
        self.inner.config
    }

    /// Switch counts and whether it is open, shared with the breaker.
    pub fn stats(&self) -> Arc<BreakerStats> {
        Arc::clone(&self.inner.stats)
    }

    /// A permit if the dependency may be called now: always while closed;
    /// while open, once the cool-down has passed, to one caller (the probe).
    #[inline]
    pub fn try_acquire(&self) -> Option<Permit> {
        let state = self.inner.state.load(Ordering::Acquire);
        let generation = state >> 2;
        let probe = match state & PHASE {
            CLOSED => false,
            OPEN => {
                if self.inner.now() < self.inner.open_until.load(Ordering::Acquire) {
                    return None;
                }
                self.inner
                    .state
                    .compare_exchange(
                        state,
                        word(generation, HALF_OPEN),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .ok()?;
                self.inner.stats.probes.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => return None,
        };
        Some(Permit {
            breaker: self.clone(),
            generation,
            probe,
            done: false,
        })
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        match self.inner.state.load(Ordering::Acquire) & PHASE {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// While the circuit is open, how long until the next probe may go
    /// (zero once it may, or while the probe is out); `None` while closed.
    /// What a `Retry-After` can say.
    pub fn retry_after(&self) -> Option<Duration> {
        if self.state() == BreakerState::Closed {
            return None;
        }
        let until = self.inner.open_until.load(Ordering::Acquire);
        Some(Duration::from_nanos(until.saturating_sub(self.inner.now())))
    }
}

impl Inner {
    fn now(&self) -> u64 {
        let elapsed = self.clock.now().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    fn reopen_at(&self) -> u64 {
        let cooldown = u64::try_from(self.config.cooldown.as_nanos()).unwrap_or(u64::MAX);
        self.now().saturating_add(cooldown)
    }

    fn swap(&self, from: u64, to: u64) -> bool {
        self.state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    fn success(&self, probe: bool, generation: u64) {
        if probe {
            if self.swap(word(generation, HALF_OPEN), word(generation, CLOSED)) {
                self.failures.store(0, Ordering::Relaxed);
                self.stats.open.store(false, Ordering::Relaxed);
                self.stats.recoveries.fetch_add(1, Ordering::Relaxed);
                tracing::info!(breaker = %self.name, "{} answered the probe: circuit closed", self.name);
            }
            return;
        }
        // Only a call begun since the circuit last closed speaks for now.
        if self.state.load(Ordering::Acquire) == word(generation, CLOSED)
            && self.failures.load(Ordering::Relaxed) != 0
        {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    fn failure(&self, probe: bool, generation: u64, error: &dyn fmt::Display) {
        if probe {
            self.open_until.store(self.reopen_at(), Ordering::Release);
            if self.swap(word(generation, HALF_OPEN), word(generation + 1, OPEN)) {
                tracing::debug!(breaker = %self.name, %error, "{} failed the probe: circuit open again", self.name);
            }
            return;
        }
        if self.state.load(Ordering::Acquire) != word(generation, CLOSED) {
            // Begun before the circuit last opened: already counted.
            return;
        }
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if failures < self.config.failures {
            return;
        }
        self.open_until.store(self.reopen_at(), Ordering::Release);
        if self.swap(word(generation, CLOSED), word(generation + 1, OPEN)) {
            self.stats.open.store(true, Ordering::Relaxed);
            self.stats.trips.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                breaker = %self.name,
                failures,
                %error,
                "{} failing: circuit open for {:?}",
                self.name,
                self.config.cooldown
            );
        }
    }

    /// A probe dropped with no verdict: open again, due at once, so that the
    /// next call probes.
    fn release(&self, generation: u64) {
        self.swap(word(generation, HALF_OPEN), word(generation, OPEN));
    }
}

/// Leave to call the dependency once; report how it went with
/// [`success`](Self::success), [`failure`](Self::failure) or
/// [`neutral`](Self::neutral). Dropped without a report (the call was
/// cancelled), it changes nothing, except that a probe is given back so
/// that the next call probes.
#[derive(Debug)]
#[must_use = "a permit reports how the call went; dropped, it says nothing"]
pub struct Permit {
    breaker: CircuitBreaker,
    generation: u64,
    probe: bool,
    done: bool,
}

impl Permit {
    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The dependency answered: resets the failure count; a probe closes
    /// the circuit.
    pub fn success(mut self) {
        self.done = true;
        self.breaker.inner.success(self.probe, self.generation);
    }

    /// The dependency failed (`error` is logged if this opens the circuit):
    /// counts a consecutive failure; a probe opens the circuit again.
    pub fn failure(mut self, error: impl fmt::Display) {
        self.done = true;
        self.breaker
            .inner
            .failure(self.probe, self.generation, &error);
    }

    /// The call ended in a way that is the caller's own doing (a rejected
    /// request, a busy pool) but shows that the dependency answers: counted
    /// as a success.
    pub fn neutral(self) {
        self.success();
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.probe {
            self.breaker.inner.release(self.generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn breaker(failures: u32, cooldown: Duration) -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::new("test", BreakerConfig { failures, cooldown })
            .with_clock(clock.clone());
        (breaker, clock)
    }

    #[test]
    fn opens_after_consecutive_failures_and_probes_once() {
        let (breaker, clock) = breaker(2, Duration::from_millis(50));
        breaker.try_acquire().unwrap().failure("down");
        breaker.try_acquire().unwrap().success();
        breaker.try_acquire().unwrap().failure("down");
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.try_acquire().unwrap().failure("down");
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.stats().is_open());
        assert!(breaker.try_acquire().is_none());
        assert_eq!(breaker.retry_after(), Some(Duration::from_millis(50)));
        clock.advance(Duration::from_millis(50));
        let probe = breaker.try_acquire().unwrap();
        assert!(probe.is_probe());
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.try_acquire().is_none(), "one probe at a time");
        probe.failure("still down");
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.stats().trips(), 1, "a failed probe is no new trip");
        clock.advance(Duration::from_millis(50));
        breaker.try_acquire().unwrap().success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.retry_after(), None);
        assert_eq!(breaker.stats().probes(), 2);
        assert_eq!(breaker.stats().recoveries(), 1);
        assert!(!breaker.stats().is_open());
    }

    #[test]
    fn a_dropped_probe_lets_the_next_call_probe() {
        let (breaker, clock) = breaker(1, Duration::from_secs(1));
        breaker.try_acquire().unwrap().failure("down");
        clock.advance(Duration::from_secs(1));
        let probe = breaker.try_acquire().unwrap();
        assert!(probe.is_probe());
        drop(probe);
        // No verdict: still open, but the next call probes at once.
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.retry_after(), Some(Duration::ZERO));
        let probe = breaker.try_acquire().expect("a later call probes");
        assert!(probe.is_probe());
        probe.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.stats().probes(), 2);
    }

    #[test]
    fn a_dropped_call_that_is_not_the_probe_changes_nothing() {
        let (breaker, _clock) = breaker(1, Duration::from_secs(60));
        drop(breaker.try_acquire().unwrap());
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.try_acquire().is_some());
    }

    #[test]
    fn a_call_begun_before_the_circuit_opened_cannot_close_it() {
        let (breaker, _clock) = breaker(1, Duration::from_secs(60));
        let (early_ok, early_neutral) = (
            breaker.try_acquire().unwrap(),
            breaker.try_acquire().unwrap(),
        );
        breaker.try_acquire().unwrap().failure("down");
        assert_eq!(breaker.state(), BreakerState::Open);
        early_ok.success();
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a late success is stale"
        );
        early_neutral.neutral();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.try_acquire().is_none());
    }

    #[test]
    fn a_late_failure_does_not_extend_an_open_circuit() {
        let (breaker, clock) = breaker(1, Duration::from_millis(40));
        let late = breaker.try_acquire().unwrap();
        breaker.try_acquire().unwrap().failure("down");
        clock.advance(Duration::from_millis(40));
        late.failure("down, late");
        let probe = breaker.try_acquire();
        assert!(probe.is_some(), "the cool-down ran from the first failure");
        probe.unwrap().success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_permit_from_before_a_reopening_cannot_close_it_again() {
        let (breaker, clock) = breaker(1, Duration::from_millis(10));
        breaker.try_acquire().unwrap().failure("down");
        clock.advance(Duration::from_millis(10));
        breaker.try_acquire().unwrap().success();
        let stale = breaker.try_acquire().unwrap();
        breaker.try_acquire().unwrap().failure("down again");
        stale.success();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.stats().trips(), 2);
    }

    #[test]
    fn zero_failures_is_taken_as_one() {
        let (breaker, _clock) = breaker(0, Duration::from_secs(1));
        assert_eq!(breaker.config().failures, 1);
        breaker.try_acquire().unwrap().failure("down");
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn one_probe_among_many_threads() {
        let (breaker, clock) = breaker(1, Duration::from_millis(1));
        breaker.try_acquire().unwrap().failure("down");
        clock.advance(Duration::from_millis(1));
        let probes: Vec<Permit> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let breaker = breaker.clone();
                    scope.spawn(move || {
                        // Held, not dropped: a dropped probe is given back.
                        (0..100)
                            .filter_map(|_| breaker.try_acquire())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            // Every thread's permits are held until all have finished.
            let held: Vec<Vec<Permit>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            held.into_iter().flatten().collect()
        });
        assert_eq!(probes.len(), 1);
    }
}
