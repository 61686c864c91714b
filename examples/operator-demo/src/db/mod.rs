//! The database: one code path over SQLite (the embedded default) and
//! Postgres (production), through sqlx's `Any` driver.
//!
//! - SQLite: a file in `DATA_DIR`, WAL journal, a busy timeout, migrated on
//!   start. No row-level security: every query filters by organization.
//! - Postgres: `DATABASE_URL`, optionally `DATABASE_READ_URL` for a read
//!   replica (reads that may lag go there, writes to the primary; while the
//!   replica fails or is down, even at start-up, reads fall back to the
//!   primary: see [`Db::read`]). Every tenant table has
//!   row-level security, enabled and forced, keyed by `app.current_org_id`;
//!   the app connects as a role that owns no table and is neither superuser
//!   nor `BYPASSRLS` (checked at start-up). Every query still filters by
//!   organization too, so SQLite and Postgres answer alike.
//!
//! - A database outage: after [`PRIMARY_FAILURES`] connection failures in a
//!   row the primary's circuit breaker opens, and requests answer 503 with
//!   `Retry-After` at once ([`DatabaseUnavailable`]) instead of each
//!   waiting the pool's acquire timeout; a probe in the background closes it
//!   when the database answers again ([`DbConfig::primary_cooldown`]).
//!
//! A request reaches the database in one of two ways, [`Db::read`] and
//! [`Db::write_tx`], each for one organization: the one place that sets
//! the tenant for row-level security (through rampart-tenant's
//! `begin_tenant_read_tx` and `begin_tenant_tx`). Which pool serves it is
//! theirs to decide, from the [`Freshness`] a read needs.
//!
//! `Any` carries only a few types: ids are UUID strings (TEXT), times are
//! Unix seconds (BIGINT), JSON is TEXT checked as JSON in Rust.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use operator_demo::db::{Backend, Db, DbConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::connect(&DbConfig::embedded(dir.path())).await.unwrap();
//! assert_eq!(db.backend(), Backend::Sqlite);
//! db.migrate_up().await.unwrap();
//! db.ping().await.unwrap();
//! # }
//! ```

pub mod migrate;
mod primary;
mod replica;
mod role;
pub mod seed;
pub mod sessions;

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use prometheus_client::registry::Registry;
use rampart_tenant::{
    TenantId,
    sqlx::{begin_tenant_read_tx, begin_tenant_tx},
};
use sqlx::{
    Any, AnyPool, Executor, Transaction,
    any::{AnyPoolOptions, install_default_drivers},
};

use self::{
    primary::PrimaryBreaker,
    replica::{Replica, is_recovery_conflict},
};
pub use self::{
    primary::{DatabaseUnavailable, PRIMARY_COOLDOWN, PRIMARY_FAILURES},
    replica::{REPLICA_COOLDOWN, ReplicaMetrics, is_connection_failure},
    role::{RoleCheckError, TENANT_TABLES},
};

/// What the closure given to [`Db::read`] returns: a boxed `Send` future
/// borrowing the transaction.
pub type ReadFuture<'c, T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

/// Which database the URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file: the embedded default.
    Sqlite,
    /// Postgres: production, with row-level security.
    Postgres,
}

/// Where the database is and how to connect to it.
///
/// ```
/// use operator_demo::db::DbConfig;
///
/// let config = DbConfig::embedded("/var/lib/demo");
/// assert!(config.url.starts_with("sqlite://"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DbConfig {
    /// `DATABASE_URL`: `sqlite://...` or `postgres://...`.
    pub url: String,
    /// `DATABASE_READ_URL`: a read replica of the same backend.
    pub read_url: Option<String>,
    /// The most connections each pool keeps open.
    pub max_connections: u32,
    /// How long a request waits for a free primary connection.
    pub acquire_timeout: Duration,
    /// How long a read waits for a replica connection before it reads from
    /// the primary instead (`DATABASE_READ_TIMEOUT_MS`).
    pub read_timeout: Duration,
    /// How long reads skip a failed replica before one read probes it.
    pub replica_cooldown: Duration,
    /// How long requests skip a failed primary (answering 503 at once)
    /// before a probe in the background.
    pub primary_cooldown: Duration,
}

impl DbConfig {
    /// The embedded default: `operator-demo.db` in `data_dir`.
    pub fn embedded(data_dir: impl AsRef<Path>) -> Self {
        Self::from_url(sqlite_url(&data_dir.as_ref().join("operator-demo.db")))
    }

    /// A database at `url`, no replica.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            read_url: None,
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            read_timeout: DEFAULT_READ_TIMEOUT,
            replica_cooldown: REPLICA_COOLDOWN,
            primary_cooldown: PRIMARY_COOLDOWN,
        }
    }
}

/// The default of [`DbConfig::read_timeout`]: long enough for a busy but
/// healthy replica, short enough that a fallback read stays quick.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_millis(500);

/// The `sqlite://` URL of a file, created when missing.
///
/// ```
/// let url = operator_demo::db::sqlite_url(std::path::Path::new("/tmp/a b.db"));
/// assert_eq!(url, "sqlite:///tmp/a%20b.db?mode=rwc");
/// ```
pub fn sqlite_url(file: &Path) -> String {
    let absolute: PathBuf = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
    let mut path = String::new();
    for c in absolute.to_string_lossy().chars() {
        match c {
            '%' => path.push_str("%25"),
            '?' => path.push_str("%3F"),
            '#' => path.push_str("%23"),
            ' ' => path.push_str("%20"),
            c => path.push(c),
        }
    }
    format!("sqlite://{path}?mode=rwc")
}

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL names no backend this app speaks.
    #[error("{variable}: unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl {
        /// The variable holding the URL.
        variable: &'static str,
    },
    /// The replica is another backend than the primary.
    #[error("DATABASE_READ_URL must name the same kind of database as DATABASE_URL")]
    MixedBackends,
    /// The connection role would see through row-level security.
    #[error("{variable}: {source}")]
    Role {
        /// The variable holding the URL of the pool whose role failed.
        variable: &'static str,
        /// What is wrong with the role.
        #[source]
        source: RoleCheckError,
    },
    /// Connecting failed.
    #[error("cannot connect with {variable}: {source}")]
    Connect {
        /// The variable holding the URL.
        variable: &'static str,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// The connection pools: the primary for writes, a replica (or the primary
/// again) for reads. Cheap to clone.
///
/// A request reaches its organization's rows in one of two ways, and
/// never picks a pool itself:
///
/// - [`Db::read`]: a read-only transaction, on the replica when the read
///   may lag ([`Freshness::MayLag`]) and the replica answers, else on the
///   primary;
/// - [`Db::write_tx`]: a transaction on the primary, for writes (and the
///   reads a write needs, in the same transaction).
///
/// Both set the organization for row-level security. Jobs that are not
/// requests (migrations, seeding, retention, erasure, backups) also use
/// [`Db::primary`] for what spans organizations.
#[derive(Debug, Clone)]
pub struct Db {
    primary: AnyPool,
    /// In front of every request's use of `primary` (not of start-up work:
    /// migrations, the role check).
    primary_breaker: PrimaryBreaker,
    replica: Option<Replica>,
    backend: Backend,
}

/// What a [`Db::read`] must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// What the replica has replayed, which may be some milliseconds (or,
    /// while it is behind, longer) short of the last commits: most reads.
    MayLag,
    /// Every write committed before the read began: a read that follows
    /// the caller's own write, and anything that authenticates a credential
    /// (a user created a moment ago logs in at once). Served by the primary.
    Latest,
}

impl Db {
    /// Opens the pools (and the SQLite file). Migrations are not run here:
    /// see [`Db::migrate_up`]. The replica's pool connects on its first
    /// use: a replica that is down does not keep the app from starting
    /// (reads go to the primary until it answers).
    ///
    /// # Errors
    ///
    /// [`DbError`] naming `DATABASE_URL` or `DATABASE_READ_URL`.
    pub async fn connect(config: &DbConfig) -> Result<Self, DbError> {
        install_default_drivers();
        let backend = backend_of(&config.url, "DATABASE_URL")?;
        let primary = options(config, backend)
            .connect(&config.url)
            .await
            .map_err(|source| DbError::Connect {
                variable: "DATABASE_URL",
                source,
            })?;
        let replica = match &config.read_url {
            Some(url) => {
                if backend_of(url, "DATABASE_READ_URL")? != backend {
                    return Err(DbError::MixedBackends);
                }
                let replica_config = DbConfig {
                    acquire_timeout: config.read_timeout,
                    ..config.clone()
                };
                let pool = options(&replica_config, backend)
                    .connect_lazy(url)
                    .map_err(|source| DbError::Connect {
                        variable: "DATABASE_READ_URL",
                        source,
                    })?;
                Some(Replica::new(pool, config.replica_cooldown))
            }
            None => None,
        };
        Ok(Self {
            primary_breaker: PrimaryBreaker::new(primary.clone(), config.primary_cooldown),
            primary,
            replica,
            backend,
        })
    }

    /// SQLite or Postgres.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The primary's pool, outside any organization and outside its
    /// circuit breaker: for the jobs that are not requests (seeding, the
    /// lists of organizations that retention and erasure walk) and for
    /// tests. A request uses [`Db::read`] or [`Db::write_tx`].
    pub fn primary(&self) -> &AnyPool {
        &self.primary
    }

    /// The replica's series (`db_replica_fallback_total`, `db_replica_up`),
    /// when `DATABASE_READ_URL` is set.
    pub fn replica_metrics(&self) -> Option<&ReplicaMetrics> {
        self.replica.as_ref().map(|replica| &replica.metrics)
    }

    /// Runs `read` in a read-only transaction of organization `org_id` and
    /// commits it: the one way a request reads.
    ///
    /// With [`Freshness::MayLag`] (and outside [`read_latest`]) it runs on
    /// the replica when there is one and its breaker lets it. When the
    /// replica's connection fails (no connection within
    /// [`DbConfig::read_timeout`], I/O errors, the server shutting down:
    /// see [`is_connection_failure`]), the transaction is opened on the
    /// primary instead and the replica's breaker opens: reads go straight
    /// to the primary for [`DbConfig::replica_cooldown`], then one read
    /// probes the replica. If the replica fails once the transaction is
    /// open (its connection dropped mid-query; or a conflict with recovery,
    /// `40001`), `read` runs again, once, on the primary. Every read the
    /// primary serves instead counts in `db_replica_fallback_total`.
    ///
    /// With [`Freshness::Latest`] it runs on the primary.
    ///
    /// On Postgres it is `BEGIN READ ONLY` with `app.current_org_id` set
    /// for this transaction only (rampart-tenant's `begin_tenant_read_tx`:
    /// `set_config(..., true)`, sent with the `BEGIN` in one round trip), so
    /// row-level security hides every other organization, the setting
    /// cannot leak to the next user of the pooled connection, and a write
    /// in it fails. With [`NO_TENANT`] it sees no organization's rows, only
    /// the tables outside tenancy (the login directory). On SQLite it is a
    /// deferred `BEGIN`, so readers do not queue behind the writer, and the
    /// queries filter by organization.
    ///
    /// `read` returns a boxed future (as sqlx's own transaction helpers do),
    /// so the call stays `Send` in a handler.
    ///
    /// # Errors
    ///
    /// The driver's error; [`DatabaseUnavailable`] at once while the
    /// primary's circuit breaker is open and the primary is needed.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use operator_demo::db::{Db, DbConfig, Freshness};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::connect(&DbConfig::embedded(dir.path())).await.unwrap();
    /// db.migrate_up().await.unwrap();
    /// let org = operator_demo::db::new_id();
    /// // Spawned: the future is `Send`, as a handler's must be.
    /// let one: i64 = tokio::spawn(async move {
    ///     db.read(&org, Freshness::MayLag, |tx| {
    ///         Box::pin(async move { sqlx::query_scalar("SELECT 1").fetch_one(&mut **tx).await })
    ///     })
    ///     .await
    /// })
    /// .await
    /// .unwrap()
    /// .unwrap();
    /// assert_eq!(one, 1);
    /// # }
    /// ```
    pub async fn read<T, F>(
        &self,
        org_id: &str,
        freshness: Freshness,
        read: F,
    ) -> Result<T, sqlx::Error>
    where
        F: for<'c> Fn(&'c mut Transaction<'static, Any>) -> ReadFuture<'c, T>,
    {
        let tenant = tenant(org_id)?;
        let may_lag = freshness == Freshness::MayLag && !reading_latest();
        if let Some(replica) = self.replica.as_ref().filter(|_| may_lag) {
            if let Some(answer) = read_on_replica(replica, &tenant, &read).await {
                return answer;
            }
            replica.fell_back();
        }
        let mut tx = self
            .primary_breaker
            .open(|pool| async move { begin_tenant_read_tx(&pool, &tenant).await })
            .await?;
        let value = read(&mut tx).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// A transaction on the primary for organization `org_id`: the one way
    /// a request writes, and the reads a write needs go in it. On SQLite it
    /// begins with `BEGIN IMMEDIATE` (rampart-tenant): the one writer, from
    /// its first statement.
    ///
    /// # Errors
    ///
    /// The driver's error; [`DatabaseUnavailable`] at once while the
    /// primary's circuit breaker is open (see [`PRIMARY_FAILURES`]).
    pub async fn write_tx(&self, org_id: &str) -> Result<Transaction<'static, Any>, sqlx::Error> {
        let tenant = tenant(org_id)?;
        self.primary_breaker
            .open(|pool| async move { begin_tenant_tx(&pool, &tenant).await })
            .await
    }

    /// One round trip to the primary, for `/ready`: through the primary's
    /// circuit breaker, so that while it is open the check fails at once
    /// (and, after the cool-down, starts the probe).
    ///
    /// # Errors
    ///
    /// The driver's error, or [`DatabaseUnavailable`] while the circuit is
    /// open.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.primary_breaker
            .open(|pool| async move { pool.execute("SELECT 1").await.map(drop) })
            .await
    }

    /// Whether requests go to the primary now: `false` while its circuit
    /// breaker is open after an outage (they answer 503 at once).
    pub fn primary_is_up(&self) -> bool {
        self.primary_breaker.is_closed()
    }

    /// Adds `db_primary_up` (1 while requests go to the primary, 0 while its
    /// circuit breaker is open) to `registry`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use operator_demo::db::{Db, DbConfig};
    /// use prometheus_client::{encoding::text::encode, registry::Registry};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::connect(&DbConfig::embedded(dir.path())).await.unwrap();
    /// let mut registry = Registry::default();
    /// db.register_primary_metrics(&mut registry);
    /// let mut text = String::new();
    /// encode(&mut text, &registry).unwrap();
    /// assert!(text.contains("db_primary_up 1"));
    /// assert!(db.primary_is_up());
    /// // No replica: nothing to ping, no replica series.
    /// assert!(db.ping_replica().await.is_none());
    /// assert!(db.replica_metrics().is_none());
    /// # }
    /// ```
    pub fn register_primary_metrics(&self, registry: &mut Registry) {
        self.primary_breaker.register(registry);
    }

    /// One round trip to the replica, for `/ready`: `None` without one. A
    /// replica down does not make the app unready (reads fall back to the
    /// primary), but `/ready` reports it. A connection failure opens the
    /// replica's breaker, as a failed read does.
    pub async fn ping_replica(&self) -> Option<Result<(), sqlx::Error>> {
        let replica = self.replica.as_ref()?;
        let pong = replica.pool.execute("SELECT 1").await.map(drop);
        if let Err(err) = &pong {
            replica.connection_failed(err);
        }
        Some(pong)
    }

    /// On Postgres, refuses a connection role that would see through
    /// row-level security (superuser, `BYPASSRLS`, or owner of a tenant
    /// table). Nothing to check on SQLite. A replica that does not answer
    /// is not checked (the app starts without it, reading from the
    /// primary): that is logged.
    ///
    /// # Errors
    ///
    /// [`DbError::Role`] naming the variable whose role is at fault
    /// (`DATABASE_URL` or `DATABASE_READ_URL`) and saying what is wrong.
    pub async fn check_role(&self) -> Result<(), DbError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        role::check(&self.primary)
            .await
            .map_err(|source| DbError::Role {
                variable: "DATABASE_URL",
                source,
            })?;
        if let Some(replica) = &self.replica {
            match role::check(&replica.pool).await {
                Ok(()) => {}
                Err(RoleCheckError::Query(err)) if is_connection_failure(&err) => {
                    replica.connection_failed(&err);
                    tracing::warn!(%err, "the database replica (DATABASE_READ_URL) does not answer: \
                        starting without it, its role unchecked; reads go to the primary until it answers");
                }
                Err(source) => {
                    return Err(DbError::Role {
                        variable: "DATABASE_READ_URL",
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.primary.close().await;
        if let Some(replica) = &self.replica {
            replica.pool.close().await;
        }
    }
}

/// `read` on the replica, when its breaker lets it: `None` when the
/// primary must answer instead (the replica's connection failed, before or
/// during `read`, or it cancelled `read` for a conflict with recovery).
async fn read_on_replica<T, F>(
    replica: &Replica,
    tenant: &TenantId,
    read: &F,
) -> Option<Result<T, sqlx::Error>>
where
    F: for<'c> Fn(&'c mut Transaction<'static, Any>) -> ReadFuture<'c, T>,
{
    let permit = replica.try_acquire()?;
    let mut tx = match begin_tenant_read_tx(&replica.pool, tenant).await {
        Ok(tx) => {
            replica.succeeded(permit);
            tx
        }
        Err(err) if is_connection_failure(&err) => {
            replica.failed(permit, &err);
            return None;
        }
        Err(err) => {
            // Not the replica's health (a bad tenant id, ...).
            permit.neutral();
            return Some(Err(err));
        }
    };
    let outcome = match read(&mut tx).await {
        Ok(value) => tx.commit().await.map(|()| value),
        Err(err) => {
            // Give the failed connection back (closed or rolled back)
            // before the primary is asked.
            drop(tx);
            Err(err)
        }
    };
    match outcome {
        Err(err) if is_connection_failure(&err) || is_recovery_conflict(&err) => {
            replica.connection_failed(&err);
            None
        }
        outcome => Some(outcome),
    }
}

fn backend_of(url: &str, variable: &'static str) -> Result<Backend, DbError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(DbError::UnsupportedUrl { variable })
    }
}

/// The pool options of `backend`: the size and acquire timeout of `config`.
fn options(config: &DbConfig, backend: Backend) -> AnyPoolOptions {
    let mut options = AnyPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout);
    if backend == Backend::Sqlite {
        // One writer at a time in SQLite: WAL lets readers go on beside it,
        // and the busy timeout (sqlx sets 5 s) makes writers queue, not fail.
        options = options.after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                    .await?;
                Ok(())
            })
        });
    }
    options
}

/// An organization id as rampart-tenant's type (ids are UUIDs, always valid).
pub(crate) fn tenant(org_id: &str) -> Result<TenantId, sqlx::Error> {
    TenantId::new(org_id).map_err(|err| sqlx::Error::InvalidArgument(err.to_string()))
}

/// Now, in Unix seconds: how every time is stored.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new id: a UUID v7 (time-ordered, so inserts stay local in the index).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The organization id of a read outside every organization (the nil
/// UUID, which no row has): row-level security hides every tenant's rows
/// from it, so it sees only the tables outside tenancy, such as the login
/// directory (`user_logins`).
pub const NO_TENANT: &str = "00000000-0000-0000-0000-000000000000";

tokio::task_local! {
    static LATEST: ();
}

/// Runs `future` with every [`Db::read`] in it [`Freshness::Latest`]: for
/// an answer the response cache will keep, which must not pin a lagging
/// replica's view for its TTL.
pub async fn read_latest<F: Future>(future: F) -> F::Output {
    LATEST.scope((), future).await
}

fn reading_latest() -> bool {
    LATEST.try_with(|()| ()).is_ok()
}
