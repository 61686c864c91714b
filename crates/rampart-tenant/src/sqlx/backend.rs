//! What each database does to carry the tenant into a transaction.

use std::future::Future;

use ::sqlx::{Error, Pool, Transaction};

use crate::TenantId;

#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-any"))]
const SET_CONFIG: &str = "SELECT set_config('app.current_org_id', $1, true)";
/// `hashtextextended` (Postgres 11+) turns the text into the 64-bit key
/// that advisory locks take; two different texts may share a key, which
/// only makes two unrelated creates wait for each other.
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-any"))]
const ADVISORY_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text";
/// SQLite: take the write lock when the transaction begins. A deferred
/// transaction that reads (the count) and then writes (the insert) fails
/// with `SQLITE_BUSY` when another writer committed in between, instead of
/// waiting; `IMMEDIATE` waits (busy timeout) and then holds the only write
/// lock, which also makes count-then-insert race-free.
#[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-any"))]
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";
/// SQLite, read-only: a deferred `BEGIN` takes no lock until it reads, and
/// WAL lets it read beside the writer instead of queueing behind it.
#[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-any"))]
const BEGIN_DEFERRED: &str = "BEGIN";

/// The statement that opens a tenant transaction on SQLite: deferred when
/// `read_only`, else immediate.
#[cfg(any(feature = "sqlx-sqlite", feature = "sqlx-any"))]
fn sqlite_begin(read_only: bool) -> &'static str {
    if read_only {
        BEGIN_DEFERRED
    } else {
        BEGIN_IMMEDIATE
    }
}

/// The one statement that opens a tenant transaction on Postgres:
/// `SELECT set_config('app.current_org_id', E'<tenant>', true); BEGIN`
/// (`BEGIN READ ONLY` when `read_only`), sent as one simple query, so the
/// transaction and its tenant cost one round trip instead of two (`BEGIN`,
/// then `set_config` with a bound parameter).
///
/// Why `set_config` comes first: in a simple query of several statements,
/// the ones before a `BEGIN` run in an implicit transaction that the
/// `BEGIN` turns into the explicit one (Postgres docs, "Multiple Statements
/// in a Simple Query"), so the setting is local to the transaction that
/// `BEGIN` opens and ends with its commit or rollback, exactly as when it
/// is set inside. The order matters if the statement fails: `BEGIN;
/// SELECT set_config(...)` failing would leave the connection in an
/// aborted transaction that sqlx does not know it holds (it returns the
/// connection to the pool, where every later statement fails until it is
/// closed); a failure before the `BEGIN` rolls the implicit transaction
/// back and the connection stays idle and usable. (The module's tests,
/// `sqlx/tests.rs`, check both behaviours of the server.)
///
/// The tenant is inlined because a simple query carries no parameters; see
/// [`push_literal`] for why that is safe.
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-any"))]
pub(super) fn postgres_begin(tenant: &TenantId, read_only: bool) -> ::sqlx::AssertSqlSafe<String> {
    let mut sql = String::with_capacity(96);
    sql.push_str("SELECT set_config('app.current_org_id', ");
    push_literal(&mut sql, tenant.as_str());
    sql.push_str(", true); ");
    sql.push_str(if read_only {
        "BEGIN READ ONLY"
    } else {
        "BEGIN"
    });
    ::sqlx::AssertSqlSafe(sql)
}

/// Appends `value` as a Postgres escape string literal, `E'...'`, with `'`
/// and `\` escaped.
///
/// A [`TenantId`] is 1 to 64 of `A-Z a-z 0-9 - _`, checked when it is
/// parsed, and parsing is the only way to make one, so it never holds a
/// quote, a backslash, a semicolon, a NUL or white space: nothing that can
/// end the literal or start another statement (the property tests of this
/// module assert it for arbitrary input). The escaping is there anyway, so
/// that this stays correct even if the type one day accepts more: with
/// `E'...'`, `\` is an escape whatever `standard_conforming_strings` says,
/// so doubling `'` and `\` is complete. (A NUL would end the query text
/// early, leaving the literal unterminated: a syntax error, never a second
/// statement.)
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-any"))]
pub(super) fn push_literal(sql: &mut String, value: &str) {
    sql.push_str("E'");
    for c in value.chars() {
        match c {
            '\'' => sql.push_str("''"),
            '\\' => sql.push_str("\\\\"),
            c => sql.push(c),
        }
    }
    sql.push('\'');
}

/// A database [`begin_tenant_tx`] works on: Postgres, SQLite, or `Any`
/// (either of them, chosen by the connection). Sealed.
pub trait TenantDatabase: ::sqlx::Database + private::Sealed {
    #[doc(hidden)]
    fn begin_tenant(
        pool: &Pool<Self>,
        tenant: &TenantId,
        read_only: bool,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, Error>> + Send;

    #[doc(hidden)]
    fn set_tenant(
        tx: &mut Transaction<'_, Self>,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn lock_resource(
        tx: &mut Transaction<'_, Self>,
        key: String,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn is_postgres(tx: &Transaction<'_, Self>) -> bool;
}

mod private {
    pub trait Sealed {}
}

/// Opens a transaction on `pool` for `tenant`.
///
/// - Postgres: `SELECT set_config('app.current_org_id', E'<tenant>', true);
///   BEGIN`, one statement and one round trip: the setting belongs to the
///   transaction and ends with it, so nothing is left on the pooled
///   connection. (The tenant is written into the statement as a literal; a
///   [`TenantId`] cannot hold anything that would end it.)
/// - SQLite: `BEGIN IMMEDIATE` and nothing else (no row-level security: the
///   app filters by tenant in every query). Immediate, because SQLite allows
///   one writer at a time: taking the lock at the start makes a writer wait
///   for the one before it instead of failing with `SQLITE_BUSY` halfway,
///   and makes a count followed by an insert race-free (see
///   [`lock_tenant_resource`]). Read-only queries that need no transaction
///   can use the pool directly.
/// - `Any`: whichever of the two the pool's connection is (the statement is
///   chosen from the pool's URL, and the connection's backend is checked
///   once it is open); any other backend is a
///   [`Configuration`](Error::Configuration) error.
///
/// Dropping the transaction without committing rolls it back.
///
/// # Example
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// let tenant = "acme".parse().unwrap();
/// let mut tx = rampart_tenant::sqlx::begin_tenant_tx(&pool, &tenant).await?;
/// sqlx::query("UPDATE companies SET name = 'Acme Inc' WHERE id = 7")
///     .execute(&mut *tx)
///     .await?; // touches acme's row 7 only, whatever the WHERE says
/// tx.commit().await
/// # }
/// ```
pub async fn begin_tenant_tx<DB: TenantDatabase>(
    pool: &Pool<DB>,
    tenant: &TenantId,
) -> Result<Transaction<'static, DB>, Error> {
    DB::begin_tenant(pool, tenant, false).await
}

/// Opens a read-only transaction on `pool` for `tenant`: the same as
/// [`begin_tenant_tx`], for handlers that only read.
///
/// - Postgres: `SELECT set_config(...); BEGIN READ ONLY`, one round trip
///   as well. A write in it fails (`cannot execute INSERT in a read-only
///   transaction`), so a read path cannot change data by mistake, and a hot
///   standby (a read replica) accepts it.
/// - SQLite: a deferred `BEGIN`, not `BEGIN IMMEDIATE`: it takes no write
///   lock, so readers do not queue behind the one writer (WAL lets them
///   read beside it).
///
/// # Example
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// let tenant = "acme".parse().unwrap();
/// let mut tx = rampart_tenant::sqlx::begin_tenant_read_tx(&pool, &tenant).await?;
/// let names: Vec<String> = sqlx::query_scalar("SELECT name FROM companies")
///     .fetch_all(&mut *tx)
///     .await?; // acme's companies only
/// tx.commit().await?;
/// # let _ = names; Ok(()) }
/// ```
pub async fn begin_tenant_read_tx<DB: TenantDatabase>(
    pool: &Pool<DB>,
    tenant: &TenantId,
) -> Result<Transaction<'static, DB>, Error> {
    DB::begin_tenant(pool, tenant, true).await
}

/// Sets `tenant` in a transaction that is already open (on Postgres:
/// `set_config('app.current_org_id', $1, true)`; on SQLite nothing), for a
/// transaction not made by [`begin_tenant_tx`]. Never use it on a
/// connection outside a transaction: the `true` makes it last until the
/// transaction ends, and outside one that is the statement itself.
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// let mut tx = pool.begin().await?;
/// rampart_tenant::sqlx::set_tenant(&mut tx, &"acme".parse().unwrap()).await?;
/// # Ok(()) }
/// ```
pub async fn set_tenant<DB: TenantDatabase>(
    tx: &mut Transaction<'_, DB>,
    tenant: &TenantId,
) -> Result<(), Error> {
    DB::set_tenant(tx, tenant).await
}

/// Serializes the transactions that create `resource` for `tenant`, so that
/// "count, compare with the quota, insert" cannot admit two creates that
/// each saw room for one more. Call it first in the transaction, then count
/// and check with [`Tenant::check_count`](crate::Tenant::check_count), then
/// insert, then commit.
///
/// - Postgres: `pg_advisory_xact_lock` on a hash of tenant and resource,
///   released when the transaction ends. Other tenants and resources are
///   not held up.
/// - SQLite: nothing to do: [`begin_tenant_tx`] began with `BEGIN
///   IMMEDIATE`, so this transaction is the only writer until it ends.
///
/// ```no_run
/// # async fn run(pool: sqlx::AnyPool, tenant: rampart_tenant::Tenant) -> Result<(), Box<dyn std::error::Error>> {
/// use rampart_tenant::sqlx::{begin_tenant_tx, lock_tenant_resource};
///
/// let mut tx = begin_tenant_tx(&pool, tenant.id()).await?;
/// lock_tenant_resource(&mut tx, tenant.id(), "users").await?;
/// let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE organization_id = $1")
///     .bind(tenant.id().as_str())
///     .fetch_one(&mut *tx)
///     .await?;
/// tenant.check_count("users", count.try_into().unwrap_or(0))?; // 403 problem+json when full
/// sqlx::query("INSERT INTO users (organization_id, email) VALUES ($1, $2)")
///     .bind(tenant.id().as_str())
///     .bind("new@example.com")
///     .execute(&mut *tx)
///     .await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub async fn lock_tenant_resource<DB: TenantDatabase>(
    tx: &mut Transaction<'_, DB>,
    tenant: &TenantId,
    resource: &str,
) -> Result<(), Error> {
    DB::lock_resource(tx, format!("rampart-tenant:{tenant}:{resource}")).await
}

#[cfg(feature = "sqlx-postgres")]
mod postgres {
    use ::sqlx::{Error, PgPool, Postgres, Transaction};

    use super::{ADVISORY_LOCK, SET_CONFIG, TenantDatabase, postgres_begin};
    use crate::TenantId;

    impl super::private::Sealed for Postgres {}

    impl TenantDatabase for Postgres {
        async fn begin_tenant(
            pool: &PgPool,
            tenant: &TenantId,
            read_only: bool,
        ) -> Result<Transaction<'static, Self>, Error> {
            pool.begin_with(postgres_begin(tenant, read_only)).await
        }

        async fn set_tenant(
            tx: &mut Transaction<'_, Self>,
            tenant: &TenantId,
        ) -> Result<(), Error> {
            ::sqlx::query(SET_CONFIG)
                .bind(tenant.as_str())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        async fn lock_resource(tx: &mut Transaction<'_, Self>, key: String) -> Result<(), Error> {
            ::sqlx::query(ADVISORY_LOCK)
                .bind(key)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        fn is_postgres(_: &Transaction<'_, Self>) -> bool {
            true
        }
    }
}

#[cfg(feature = "sqlx-sqlite")]
mod sqlite {
    use ::sqlx::{Error, Sqlite, SqlitePool, Transaction};

    use super::{TenantDatabase, sqlite_begin};
    use crate::TenantId;

    impl super::private::Sealed for Sqlite {}

    impl TenantDatabase for Sqlite {
        async fn begin_tenant(
            pool: &SqlitePool,
            _tenant: &TenantId,
            read_only: bool,
        ) -> Result<Transaction<'static, Self>, Error> {
            pool.begin_with(sqlite_begin(read_only)).await
        }

        async fn set_tenant(_: &mut Transaction<'_, Self>, _: &TenantId) -> Result<(), Error> {
            Ok(())
        }

        async fn lock_resource(_: &mut Transaction<'_, Self>, _: String) -> Result<(), Error> {
            Ok(())
        }

        fn is_postgres(_: &Transaction<'_, Self>) -> bool {
            false
        }
    }
}

#[cfg(feature = "sqlx-any")]
mod any {
    use ::sqlx::{Any, AnyPool, Error, Transaction};

    use super::{ADVISORY_LOCK, SET_CONFIG, TenantDatabase, postgres_begin, sqlite_begin};
    use crate::TenantId;

    /// What [`Any`] is connected to, from the connection itself.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Backend {
        Postgres,
        Sqlite,
    }

    pub(super) fn backend(tx: &Transaction<'_, Any>) -> Result<Backend, Error> {
        match tx.backend_name() {
            "PostgreSQL" => Ok(Backend::Postgres),
            "SQLite" => Ok(Backend::Sqlite),
            other => Err(Error::Configuration(
                format!(
                    "rampart-tenant supports Postgres and SQLite, not {other}: \
                     it cannot tell whether tenant rows are isolated there"
                )
                .into(),
            )),
        }
    }

    impl super::private::Sealed for Any {}

    impl TenantDatabase for Any {
        async fn begin_tenant(
            pool: &AnyPool,
            tenant: &TenantId,
            read_only: bool,
        ) -> Result<Transaction<'static, Self>, Error> {
            // The statement must be chosen before a connection is at hand:
            // from the URL the pool connects to (its scheme picks the
            // driver). The connection's own backend is then checked, which
            // is what counts for isolation.
            let (mut tx, tenant_set) = match pool.connect_options().database_url.scheme() {
                "sqlite" => (pool.begin_with(sqlite_begin(read_only)).await?, false),
                "postgres" | "postgresql" => (
                    pool.begin_with(postgres_begin(tenant, read_only)).await?,
                    true,
                ),
                _ => (pool.begin().await?, false),
            };
            // Another backend than Postgres or SQLite is the Configuration
            // error here; Postgres behind a URL not named as such (no such
            // driver today) still gets its tenant, in a second statement.
            if backend(&tx)? == Backend::Postgres && !tenant_set {
                Self::set_tenant(&mut tx, tenant).await?;
            }
            Ok(tx)
        }

        async fn set_tenant(
            tx: &mut Transaction<'_, Self>,
            tenant: &TenantId,
        ) -> Result<(), Error> {
            if backend(tx)? == Backend::Postgres {
                ::sqlx::query(SET_CONFIG)
                    .bind(tenant.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }

        async fn lock_resource(tx: &mut Transaction<'_, Self>, key: String) -> Result<(), Error> {
            if backend(tx)? == Backend::Postgres {
                ::sqlx::query(ADVISORY_LOCK)
                    .bind(key)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }

        fn is_postgres(tx: &Transaction<'_, Self>) -> bool {
            matches!(backend(tx), Ok(Backend::Postgres))
        }
    }
}
