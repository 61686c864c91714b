//! The primary behind a circuit breaker (rampart-core's, as for the replica
//! and the telephony providers).
//!
//! Without it, every request during a database outage waits the pool's
//! acquire timeout (5 s) before its 503. Once the outage is known
//! ([`PRIMARY_FAILURES`] connection failures in a row), requests answer 503
//! with `Retry-After` at once. After [`DbConfig::primary_cooldown`] the
//! next request (or `/ready`) starts a probe in the background, a `SELECT 1`
//! on the pool, and still answers 503 at once itself; when the probe gets
//! its answer the circuit closes and requests go to the database again.
//!
//! [`DbConfig::primary_cooldown`]: super::DbConfig::primary_cooldown

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use prometheus_client::{metrics::gauge::Gauge, registry::Registry};
use rampart::core::{BreakerConfig, BreakerState, CircuitBreaker, Permit};
use sqlx::{AnyPool, Executor};

use super::is_connection_failure;

/// How long requests skip a failed primary before one probe (the default of
/// [`DbConfig::primary_cooldown`](super::DbConfig::primary_cooldown)).
pub const PRIMARY_COOLDOWN: Duration = Duration::from_secs(2);

/// Connection failures in a row that open the primary's circuit: one could
/// be a connection the server closed (idle timeout, a restart already
/// over), three in a row are an outage.
pub const PRIMARY_FAILURES: u32 = 3;

/// The error a request gets while the primary's circuit is open: an I/O
/// error (`NotConnected`) whose source is this, so that every caller treats
/// it as the connection failure it stands for ([`is_connection_failure`]:
/// the API answers 503 with `Retry-After`).
///
/// ```
/// use operator_demo::db::{DatabaseUnavailable, is_connection_failure};
///
/// let err = DatabaseUnavailable::error();
/// assert!(is_connection_failure(&err));
/// assert!(DatabaseUnavailable::is(&err));
/// assert!(!DatabaseUnavailable::is(&sqlx::Error::PoolTimedOut));
/// ```
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the database is unavailable: its circuit breaker is open")]
pub struct DatabaseUnavailable;

impl DatabaseUnavailable {
    /// As the driver's error type.
    pub fn error() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::NotConnected, Self))
    }

    /// Whether `err` is this (the circuit was open; the database was not
    /// asked).
    pub fn is(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<Self>()))
    }
}

/// The primary's breaker, and the pool it guards. Cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct PrimaryBreaker {
    pool: AnyPool,
    breaker: CircuitBreaker,
    /// When a call last got a connection, in nanoseconds since `origin`.
    last_success: Arc<AtomicU64>,
    origin: Instant,
    /// `db_primary_up`: follows the breaker.
    up: Gauge,
}

impl PrimaryBreaker {
    pub(super) fn new(pool: AnyPool, cooldown: Duration) -> Self {
        Self {
            pool,
            breaker: CircuitBreaker::new(
                "database",
                BreakerConfig {
                    failures: PRIMARY_FAILURES,
                    cooldown,
                },
            ),
            last_success: Arc::default(),
            origin: Instant::now(),
            up: {
                let up = Gauge::default();
                up.set(1);
                up
            },
        }
    }

    /// Adds `db_primary_up` to `registry`.
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "db_primary_up",
            "1 while requests go to the primary database, 0 while its circuit breaker \
             is open after an outage (requests answer 503 at once)",
            self.up.clone(),
        );
    }

    /// Whether requests go to the database now.
    pub(super) fn is_closed(&self) -> bool {
        self.breaker.state() == BreakerState::Closed
    }

    /// `open` on the pool, unless the circuit is open: then
    /// [`DatabaseUnavailable`] at once (and, once the cool-down is over, a
    /// probe in the background). The pool is passed by value (a cheap
    /// clone), so that the future borrows nothing.
    pub(super) async fn open<T, F>(&self, open: impl FnOnce(AnyPool) -> F) -> Result<T, sqlx::Error>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        let Some(permit) = self.breaker.try_acquire() else {
            return Err(DatabaseUnavailable::error());
        };
        if permit.is_probe() {
            self.probe(permit);
            return Err(DatabaseUnavailable::error());
        }
        let started = self.now();
        // Cancelled here (the client hung up), the permit is dropped
        // unreported: that changes nothing.
        let result = open(self.pool.clone()).await;
        self.report(permit, started, result.as_ref().err());
        result
    }

    /// The probe, spawned: no request waits for it, and no client hanging
    /// up cancels it. Its permit reports when the database answers or the
    /// pool's acquire timeout ends; dropped unreported (the runtime shut
    /// down), the next request probes.
    fn probe(&self, permit: Permit) {
        let this = self.clone();
        tokio::spawn(async move {
            let started = this.now();
            let pong = this.pool.execute("SELECT 1").await.map(drop);
            this.report(permit, started, pong.as_ref().err());
        });
    }

    /// A connection failure opens the circuit after [`PRIMARY_FAILURES`];
    /// any other error is the request's own (the database answered). A pool
    /// timeout while other calls got connections is load, not an outage.
    fn report(&self, permit: Permit, started: u64, err: Option<&sqlx::Error>) {
        match err {
            None => {
                self.last_success.fetch_max(self.now(), Ordering::Relaxed);
                permit.success();
            }
            Some(err) if !is_connection_failure(err) => permit.neutral(),
            Some(sqlx::Error::PoolTimedOut)
                if self.last_success.load(Ordering::Relaxed) > started =>
            {
                permit.neutral();
            }
            Some(err) => {
                tracing::debug!(%err, "database connection failed");
                permit.failure(err);
            }
        }
        self.up.set(i64::from(self.is_closed()));
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}
