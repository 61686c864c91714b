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

/// Permission to call the provider; reports the outcome when told, and a
/// failure if dropped untold (a cancelled probe must not leave the breaker
/// half-open for ever).
#[derive(Debug)]
pub(crate) struct Permit {
    breaker: Breaker,
    done: bool,
}

impl Permit {
    pub(crate) fn success(mut self) {
        self.done = true;
        self.breaker.on_success();
    }

    pub(crate) fn failure(mut self) {
        self.done = true;
        self.breaker.on_failure();
    }

    /// The call ended in a way that says nothing about the provider's health
    /// (the caller's own error): a probe still counts it as an answer.
    pub(crate) fn neutral(mut self) {
        self.done = true;
        self.breaker.on_success();
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.on_failure();
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
        let allowed = self.with(|state| match state.open_until {
            None => true,
            Some(_) if state.probing => false,
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                state.probing = true;
                true
            }
        });
        allowed.then(|| Permit {
            breaker: self.clone(),
            done: false,
        })
    }

    fn on_success(&self) {
        let subject = self.subject;
        self.with(|state| {
            if state.open_until.is_some() {
                tracing::info!("{subject} answered the probe: circuit closed");
            }
            state.consecutive_failures = 0;
            state.open_until = None;
            state.probing = false;
        });
    }

    fn on_failure(&self) {
        let (config, subject) = (self.config, self.subject);
        self.with(|state| {
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            if state.probing || state.consecutive_failures >= config.failures {
                if state.open_until.is_none() {
                    tracing::warn!(
                        failures = state.consecutive_failures,
                        "{subject} failing: circuit open for {:?}",
                        config.cooldown
                    );
                }
                state.open_until = Some(Instant::now() + config.cooldown);
                state.probing = false;
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
}
