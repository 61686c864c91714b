//! A circuit breaker: after enough consecutive failures a dependency is
//! skipped for a cool-down, then one probe call decides whether it is back.
//! One per telephony provider, and one for the database read replica
//! ([`crate::db`]).

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// How each provider's circuit breaker trips and recovers.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use operator_demo::telephony::BreakerConfig;
///
/// let config = BreakerConfig::default();
/// assert_eq!(config.failures, 5);
/// assert_eq!(config.cooldown, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit (at least 1).
    pub failures: u32,
    /// How long an open circuit skips the provider before one probe.
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

/// The state a breaker is in, for `/ready` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls skip the provider until the cool-down ends.
    Open,
    /// One probe call is out; others skip the provider until it answers.
    HalfOpen,
}

#[derive(Debug)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
    /// How often the circuit has opened: a permit issued before the last
    /// opening reports on a call that started before it, which says nothing
    /// about the dependency now (a late success must not close the circuit
    /// another call just opened).
    trips: u64,
}

/// One dependency's breaker, shared by clones. The lock is held for a few
/// instructions, never across an `.await`.
#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    /// What the log lines name: `telephony provider`, `database replica`.
    subject: &'static str,
    state: Arc<Mutex<State>>,
}

/// Permission to call the provider; reports the outcome when told. Dropped
/// untold (the caller's request was cancelled), it changes nothing, except
/// for the half-open probe, which then counts as a failure (a cancelled
/// probe must not leave the breaker half-open for ever).
#[derive(Debug)]
pub(crate) struct Permit {
    breaker: Breaker,
    done: bool,
    probe: bool,
    trips: u64,
}

impl Permit {
    pub(crate) fn success(mut self) {
        self.done = true;
        self.breaker.on_success(self.probe, self.trips);
    }

    pub(crate) fn failure(mut self) {
        self.done = true;
        self.breaker.on_failure(self.probe, self.trips);
    }

    /// The call ended in a way that says nothing about the provider's health
    /// (the caller's own error): a probe still counts it as an answer.
    pub(crate) fn neutral(mut self) {
        self.done = true;
        self.breaker.on_success(self.probe, self.trips);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.probe {
            self.breaker.on_failure(true, self.trips);
        }
    }
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config: BreakerConfig {
                failures: config.failures.max(1),
                ..config
            },
            subject: "telephony provider",
            state: Arc::new(Mutex::new(State {
                consecutive_failures: 0,
                open_until: None,
                probing: false,
                trips: 0,
            })),
        }
    }

    /// The same breaker, naming `subject` in its log lines.
    pub(crate) fn with_subject(mut self, subject: &'static str) -> Self {
        self.subject = subject;
        self
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic elsewhere while holding the lock leaves a consistent state
        // (plain counters): keep using it.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    /// A permit if the provider may be called now.
    pub(crate) fn try_acquire(&self) -> Option<Permit> {
        let granted = self.with(|state| {
            let probe = match state.open_until {
                None => false,
                Some(_) if state.probing => return None,
                Some(until) if Instant::now() < until => return None,
                Some(_) => {
                    state.probing = true;
                    true
                }
            };
            Some((probe, state.trips))
        });
        granted.map(|(probe, trips)| Permit {
            breaker: self.clone(),
            done: false,
            probe,
            trips,
        })
    }

    fn on_success(&self, probe: bool, trips: u64) {
        let subject = self.subject;
        self.with(|state| {
            if !probe && trips != state.trips {
                return; // began before the circuit last opened
            }
            if probe {
                tracing::info!("{subject} answered the probe: circuit closed");
                state.open_until = None;
                state.probing = false;
            }
            state.consecutive_failures = 0;
        });
    }

    fn on_failure(&self, probe: bool, trips: u64) {
        let (config, subject) = (self.config, self.subject);
        self.with(|state| {
            if !probe && trips != state.trips {
                return; // began before the circuit last opened: already counted
            }
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            if probe || state.consecutive_failures >= config.failures {
                if state.open_until.is_none() {
                    tracing::warn!(
                        failures = state.consecutive_failures,
                        "{subject} failing: circuit open for {:?}",
                        config.cooldown
                    );
                }
                state.open_until = Some(Instant::now() + config.cooldown);
                state.probing = false;
                state.trips += 1;
            }
        });
    }

    pub(crate) fn state(&self) -> BreakerState {
        self.with(|state| match state.open_until {
            None => BreakerState::Closed,
            Some(_) if state.probing => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_probes_once() {
        let breaker = Breaker::new(BreakerConfig {
            failures: 2,
            cooldown: Duration::from_millis(50),
        });
        breaker.try_acquire().unwrap().failure();
        breaker.try_acquire().unwrap().success();
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.try_acquire().is_none());
        std::thread::sleep(Duration::from_millis(80));
        let probe = breaker.try_acquire().unwrap();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.try_acquire().is_none(), "one probe at a time");
        probe.failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(80));
        breaker.try_acquire().unwrap().success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_dropped_probe_counts_as_a_failure() {
        let breaker = Breaker::new(BreakerConfig {
            failures: 1,
            cooldown: Duration::from_millis(10),
        });
        breaker.try_acquire().unwrap().failure();
        std::thread::sleep(Duration::from_millis(30));
        drop(breaker.try_acquire().unwrap());
        assert_eq!(breaker.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(30));
        assert!(breaker.try_acquire().is_some());
    }

    #[test]
    fn a_dropped_call_that_is_not_the_probe_changes_nothing() {
        let breaker = Breaker::new(BreakerConfig {
            failures: 1,
            cooldown: Duration::from_secs(60),
        });
        drop(breaker.try_acquire().unwrap());
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.try_acquire().is_some());
    }

    #[test]
    fn a_call_begun_before_the_circuit_opened_cannot_close_it() {
        let breaker = Breaker::new(BreakerConfig {
            failures: 1,
            cooldown: Duration::from_secs(60),
        });
        let (early_ok, early_failing) = (
            breaker.try_acquire().unwrap(),
            breaker.try_acquire().unwrap(),
        );
        let failing = breaker.try_acquire().unwrap();
        failing.failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        early_ok.success();
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a late success is stale"
        );
        early_failing.neutral();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.try_acquire().is_none());
    }

    #[test]
    fn a_late_failure_does_not_extend_an_open_circuit() {
        let breaker = Breaker::new(BreakerConfig {
            failures: 1,
            cooldown: Duration::from_millis(40),
        });
        let late = breaker.try_acquire().unwrap();
        breaker.try_acquire().unwrap().failure();
        std::thread::sleep(Duration::from_millis(60));
        late.failure();
        let probe = breaker.try_acquire();
        assert!(probe.is_some(), "the cool-down ran from the first failure");
        probe.unwrap().success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
