//! The read replica and its fallback to the primary.
//!
//! Every instance of the app shares the replica, so a replica outage must not
//! take reads (or `/ready`) down: a read whose replica connection fails is
//! served by the primary in the same request, and a circuit breaker
//! (rampart-core's, as for the primary and the telephony providers) then
//! sends reads straight to the primary for a cool-down, after which one read
//! probes the replica again.

use std::time::Duration;

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};
use sqlx::AnyPool;

use rampart::core::{BreakerConfig, BreakerState, CircuitBreaker, Permit};

/// How long reads skip the replica after it failed, before one read probes
/// it again.
pub const REPLICA_COOLDOWN: Duration = Duration::from_secs(5);

/// The replica series, cheap to clone (clones count into the same series):
///
/// - `db_replica_fallback_total`: reads served by the primary because the
///   replica failed or its breaker was open;
/// - `db_replica_up`: 1 while reads go to the replica, 0 while they fall back.
///
/// # Example
///
/// ```
/// use operator_demo::db::ReplicaMetrics;
/// use prometheus_client::{encoding::text::encode, registry::Registry};
///
/// let metrics = ReplicaMetrics::default();
/// let mut registry = Registry::default();
/// metrics.register(&mut registry);
///
/// let mut text = String::new();
/// encode(&mut text, &registry).unwrap();
/// assert!(text.contains("db_replica_fallback_total 0"));
/// assert!(text.contains("db_replica_up 1"));
/// ```
#[derive(Debug, Clone)]
pub struct ReplicaMetrics {
    fallbacks: Counter,
    up: Gauge,
}

impl Default for ReplicaMetrics {
    fn default() -> Self {
        let up = Gauge::default();
        up.set(1);
        Self {
            fallbacks: Counter::default(),
            up,
        }
    }
}

impl ReplicaMetrics {
    /// Adds the two series to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "db_replica_fallback",
            "Reads served by the primary because the read replica failed or was skipped",
            self.fallbacks.clone(),
        );
        registry.register(
            "db_replica_up",
            "1 while reads go to the read replica, 0 while they fall back to the primary",
            self.up.clone(),
        );
    }

    /// Reads that fell back to the primary so far.
    ///
    /// ```
    /// assert_eq!(operator_demo::db::ReplicaMetrics::default().fallbacks(), 0);
    /// ```
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.get()
    }

    /// Whether reads go to the replica now.
    ///
    /// ```
    /// assert!(operator_demo::db::ReplicaMetrics::default().is_up());
    /// ```
    pub fn is_up(&self) -> bool {
        self.up.get() == 1
    }
}

/// The replica's pool, breaker and series. Cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Replica {
    pub(super) pool: AnyPool,
    breaker: CircuitBreaker,
    pub(super) metrics: ReplicaMetrics,
}

impl Replica {
    pub(super) fn new(pool: AnyPool, cooldown: Duration) -> Self {
        Self {
            pool,
            // One failure is enough: the fallback costs one primary read.
            breaker: CircuitBreaker::new(
                "database replica",
                BreakerConfig {
                    failures: 1,
                    cooldown,
                },
            ),
            metrics: ReplicaMetrics::default(),
        }
    }

    /// Leave to read from the replica now (breaker closed, or this read is
    /// the half-open probe); `None` sends the read to the primary.
    pub(super) fn try_acquire(&self) -> Option<Permit> {
        self.breaker.try_acquire()
    }

    /// Whether reads go to the replica now (no permit taken).
    pub(super) fn is_closed(&self) -> bool {
        self.breaker.state() == BreakerState::Closed
    }

    /// The replica answered.
    pub(super) fn succeeded(&self, permit: Permit) {
        permit.success();
        self.update_up();
    }

    /// The replica's connection failed: the breaker opens (logged once by the
    /// breaker); the caller reads from the primary. A pool that timed out
    /// because every one of its connections is busy is not an outage: the
    /// read still goes to the primary, but the breaker is not told.
    pub(super) fn failed(&self, permit: Permit, err: &sqlx::Error) {
        // The breaker logs the switch once; each failure only at debug.
        tracing::debug!(%err, "database replica read failed: reading from the primary");
        if matches!(err, sqlx::Error::PoolTimedOut) && self.is_saturated() {
            permit.neutral();
        } else {
            permit.failure(err);
        }
        self.update_up();
    }

    /// Every connection the pool may open is open and none is idle: a
    /// timeout then means load, not a replica that stopped answering (whose
    /// connections die, so the pool shrinks).
    fn is_saturated(&self) -> bool {
        self.pool.size() >= self.pool.options().get_max_connections() && self.pool.num_idle() == 0
    }

    /// `db_replica_up` follows the breaker: 1 while it sends reads to the
    /// replica.
    fn update_up(&self) {
        self.metrics.up.set(i64::from(self.is_closed()));
    }

    /// A connection failure seen after the permit was spent (a query that
    /// failed mid-way, `/ready`'s ping): the breaker hears of it as a failed
    /// call, unless it is already open.
    pub(super) fn connection_failed(&self, err: &sqlx::Error) {
        if is_connection_failure(err)
            && let Some(permit) = self.try_acquire()
        {
            self.failed(permit, err);
        }
    }

    /// A read served by the primary instead.
    pub(super) fn fell_back(&self) {
        self.metrics.fallbacks.inc();
    }
}

/// The connection to the database failed, so another server may well answer:
/// no connection within the acquire timeout, I/O or TLS errors, the server
/// shutting down or starting up (SQLSTATE class 57P), connection exceptions
/// (class 08).
///
/// ```
/// use operator_demo::db::is_connection_failure;
///
/// assert!(is_connection_failure(&sqlx::Error::PoolTimedOut));
/// assert!(!is_connection_failure(&sqlx::Error::RowNotFound));
/// ```
pub fn is_connection_failure(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// A standby cancelled the query to replay the primary's changes
/// ("conflict with recovery": `40001`, or `40P01` for a buffer-pin deadlock
/// with the startup process): the primary answers it.
pub(super) fn is_recovery_conflict(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}
