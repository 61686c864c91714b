//! Time as the time-dependent layers see it, so that tests can move it by hand.

use std::{
    fmt::Debug,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

/// A source of time for layers that count, expire or schedule.
///
/// Production code uses [`SystemClock`]; tests use [`ManualClock`] and move
/// time forward instead of sleeping.
pub trait Clock: Debug + Send + Sync + 'static {
    /// A monotonic instant, for durations and expiry.
    fn now(&self) -> Instant;

    /// Wall-clock time, for calendar periods (a month in UTC, say).
    fn system_time(&self) -> SystemTime;
}

/// The real clock: [`Instant::now`] and [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }

    #[inline]
    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until told to move. Clones share one time.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now() - start, Duration::from_secs(90));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    base: Instant,
    base_system: SystemTime,
    elapsed_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock that starts at the real time of its creation.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::now())
    }

    /// A clock whose wall-clock time starts at `system_time` (for calendar tests).
    pub fn starting_at(system_time: SystemTime) -> Self {
        Self {
            inner: Arc::new(ManualInner {
                base: Instant::now(),
                base_system: system_time,
                elapsed_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Moves time forward by `by` for every clone of this clock.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner.elapsed_nanos.fetch_add(nanos, Ordering::SeqCst);
    }

    /// How far the clock has been moved since it was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.elapsed_nanos.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.base + self.elapsed()
    }

    fn system_time(&self) -> SystemTime {
        self.inner.base_system + self.elapsed()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn system_time(&self) -> SystemTime {
        (**self).system_time()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_stands_still_until_advanced() {
        let clock = ManualClock::starting_at(SystemTime::UNIX_EPOCH);
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        assert_eq!(clock.system_time(), SystemTime::UNIX_EPOCH);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - t0, Duration::from_millis(1500));
        assert_eq!(
            clock.system_time(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1500)
        );
    }

    #[test]
    fn clones_share_time() {
        let clock = ManualClock::new();
        let other = clock.clone();
        clock.advance(Duration::from_secs(3));
        assert_eq!(other.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn system_clock_moves_forward() {
        let clock = SystemClock;
        let a = clock.now();
        assert!(clock.now() >= a);
    }

    #[test]
    fn clock_behind_arc_is_a_clock() {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
        let t = clock.now();
        assert_eq!(Clock::now(&clock), t);
    }
}
