//! A circuit breaker: closed (use the primary store), open (use the
//! fallback), half-open (one probe request tries the primary again).
//!
//! Hand-written: the breaker crates on crates.io wrap a call in their own
//! future and policy types; this one needs only "which way now" and "how did
//! it go", a handful of atomics that every clone of the store shares.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

const CLOSED: u8 = 0;
const OPEN: u8 = 1;

/// Which way one request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The breaker is closed: ask the primary.
    Primary,
    /// The breaker is open and this request is the probe: ask the primary.
    Probe,
    /// The breaker is open: use the fallback.
    Fallback,
}

/// How often the breaker switched, for dashboards.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::BreakerStats;
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
    /// Times the primary store was given up (closed → open).
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    /// Times the primary store was taken back (open → closed).
    pub fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// Half-open probes sent to the primary store.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }

    /// Whether the fallback is in use now.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub(crate) struct Breaker {
    state: AtomicU8,
    opened_at: AtomicU64,
    probing: AtomicBool,
    retry_after: Duration,
    origin: Instant,
    stats: Arc<BreakerStats>,
}

impl Breaker {
    pub(crate) fn new(retry_after: Duration) -> Self {
        Self {
            state: AtomicU8::new(CLOSED),
            opened_at: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            retry_after,
            origin: Instant::now(),
            stats: Arc::default(),
        }
    }

    pub(crate) fn stats(&self) -> Arc<BreakerStats> {
        Arc::clone(&self.stats)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn route(&self) -> Route {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return Route::Primary;
        }
        let opened = self.opened_at.load(Ordering::Acquire);
        let due = self.now().saturating_sub(opened) >= self.retry_after.as_nanos() as u64;
        if due
            && self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.stats.probes.fetch_add(1, Ordering::Relaxed);
            Route::Probe
        } else {
            Route::Fallback
        }
    }

    pub(crate) fn success(&self, route: Route) {
        if route == Route::Probe {
            self.probing.store(false, Ordering::Release);
        }
        if self.state.swap(CLOSED, Ordering::AcqRel) == OPEN {
            self.stats.open.store(false, Ordering::Relaxed);
            self.stats.recoveries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "rampart_ratelimit",
                "rate limit store is back: deciding on the shared store again"
            );
        }
    }

    pub(crate) fn failure(&self, route: Route, error: &dyn std::fmt::Display) {
        self.opened_at.store(self.now(), Ordering::Release);
        if route == Route::Probe {
            self.probing.store(false, Ordering::Release);
        }
        if self.state.swap(OPEN, Ordering::AcqRel) == CLOSED {
            self.stats.open.store(true, Ordering::Relaxed);
            self.stats.trips.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                target: "rampart_ratelimit",
                %error,
                "rate limit store failed: policies use their fallback until it answers again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_probes_and_recovers() {
        let breaker = Breaker::new(Duration::ZERO);
        assert_eq!(breaker.route(), Route::Primary);
        breaker.failure(Route::Primary, &"down");
        breaker.failure(Route::Primary, &"down");
        assert_eq!(breaker.stats().trips(), 1);
        assert_eq!(breaker.route(), Route::Probe);
        // Only one probe at a time.
        assert_eq!(breaker.route(), Route::Fallback);
        breaker.failure(Route::Probe, &"still down");
        assert_eq!(breaker.stats().trips(), 1);
        assert_eq!(breaker.route(), Route::Probe);
        breaker.success(Route::Probe);
        assert_eq!(breaker.route(), Route::Primary);
        assert_eq!(breaker.stats().recoveries(), 1);
        assert!(!breaker.stats().is_open());
    }

    #[test]
    fn no_probe_before_the_wait() {
        let breaker = Breaker::new(Duration::from_secs(3600));
        breaker.failure(Route::Primary, &"down");
        assert_eq!(breaker.route(), Route::Fallback);
        assert!(breaker.stats().is_open());
    }
}
