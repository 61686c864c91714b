//! The database: one code path over SQLite (the embedded default) and
//! Postgres (production), through sqlx's `Any` driver.
//!
//! - SQLite: a file in `DATA_DIR`, WAL journal, a busy timeout, migrated on
//!   start. No row-level security: every query filters by organization.
//! - Postgres: `DATABASE_URL`, optionally `DATABASE_READ_URL` for a read
//!   replica (reads go there, writes to the primary). Every tenant table has
//!   row-level security, enabled and forced, keyed by `app.current_org_id`;
//!   the app connects as a role that owns no table and is neither superuser
//!   nor `BYPASSRLS` (checked at start-up). Every query still filters by
//!   organization too, so SQLite and Postgres answer alike.
//!
//! Every query on tenant data goes through [`Db::read_tx`] or
//! [`Db::write_tx`]: the one place that sets the tenant for row-level
//! security (through rampart-tenant's `begin_tenant_tx`).
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
mod role;
pub mod seed;

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rampart_tenant::{
    TenantId,
    sqlx::{begin_tenant_read_tx, begin_tenant_tx},
};
use sqlx::{
    Any, AnyPool, Executor, Transaction,
    any::{AnyPoolOptions, install_default_drivers},
};

pub use self::role::{RoleCheckError, TENANT_TABLES};

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
    /// How long a request waits for a free connection.
    pub acquire_timeout: Duration,
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
        }
    }
}

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
#[derive(Debug, Clone)]
pub struct Db {
    primary: AnyPool,
    replica: Option<AnyPool>,
    backend: Backend,
}

impl Db {
    /// Opens the pools (and the SQLite file). Migrations are not run here:
    /// see [`Db::migrate_up`].
    ///
    /// # Errors
    ///
    /// [`DbError`] naming `DATABASE_URL` or `DATABASE_READ_URL`.
    pub async fn connect(config: &DbConfig) -> Result<Self, DbError> {
        install_default_drivers();
        let backend = backend_of(&config.url, "DATABASE_URL")?;
        let primary = open(config, &config.url, backend, "DATABASE_URL").await?;
        let replica = match &config.read_url {
            Some(url) => {
                if backend_of(url, "DATABASE_READ_URL")? != backend {
                    return Err(DbError::MixedBackends);
                }
                Some(open(config, url, backend, "DATABASE_READ_URL").await?)
            }
            None => None,
        };
        Ok(Self {
            primary,
            replica,
            backend,
        })
    }

    /// SQLite or Postgres.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool that takes writes (and reads that must see them).
    pub fn writer(&self) -> &AnyPool {
        &self.primary
    }

    /// The pool for reads: the replica when `DATABASE_READ_URL` is set. A
    /// replica lags: a read right after a write may not see it yet.
    pub fn reader(&self) -> &AnyPool {
        self.replica.as_ref().unwrap_or(&self.primary)
    }

    /// A read-only transaction for organization `org_id`, on the replica
    /// when there is one (rampart-tenant's `begin_tenant_read_tx`). On
    /// Postgres it is `BEGIN READ ONLY` with `app.current_org_id` set for
    /// this transaction only (`set_config(..., true)`, sent with the `BEGIN`
    /// in one round trip), so row-level security hides every other
    /// organization, the setting cannot leak to the next user of the pooled
    /// connection, and a write in it fails. On SQLite it is a deferred
    /// `BEGIN`, so readers do not queue behind the writer, and the queries
    /// filter by organization.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn read_tx(&self, org_id: &str) -> Result<Transaction<'static, Any>, sqlx::Error> {
        begin_tenant_read_tx(self.reader(), &tenant(org_id)?).await
    }

    /// The same read-only transaction as [`Db::read_tx`], on the primary:
    /// for a read that must see a write made just before (a replica lags).
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn primary_read_tx(
        &self,
        org_id: &str,
    ) -> Result<Transaction<'static, Any>, sqlx::Error> {
        begin_tenant_read_tx(&self.primary, &tenant(org_id)?).await
    }

    /// A transaction on the primary for organization `org_id`, for writes
    /// and for reads that must see them. On SQLite it begins with `BEGIN
    /// IMMEDIATE` (rampart-tenant): the one writer, from its first statement.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn write_tx(&self, org_id: &str) -> Result<Transaction<'static, Any>, sqlx::Error> {
        begin_tenant_tx(&self.primary, &tenant(org_id)?).await
    }

    /// One round trip to each pool, for `/ready`.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.primary.execute("SELECT 1").await?;
        if let Some(replica) = &self.replica {
            replica.execute("SELECT 1").await?;
        }
        Ok(())
    }

    /// On Postgres, refuses a connection role that would see through
    /// row-level security (superuser, `BYPASSRLS`, or owner of a tenant
    /// table). Nothing to check on SQLite.
    ///
    /// # Errors
    ///
    /// [`RoleCheckError`] saying what is wrong with the role.
    pub async fn check_role(&self) -> Result<(), RoleCheckError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        role::check(&self.primary).await?;
        if let Some(replica) = &self.replica {
            role::check(replica).await?;
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.primary.close().await;
        if let Some(replica) = &self.replica {
            replica.close().await;
        }
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

async fn open(
    config: &DbConfig,
    url: &str,
    backend: Backend,
    variable: &'static str,
) -> Result<AnyPool, DbError> {
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
        .connect(url)
        .await
        .map_err(|source| DbError::Connect { variable, source })
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
