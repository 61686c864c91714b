//! The start-up check that row-level security can actually hold.

use std::fmt;

use ::sqlx::{Pool, Row};

use super::TenantDatabase;

const ROLE: &str =
    "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user";
/// `to_regclass` resolves the name as a query would (search path, schema
/// qualification) and gives NULL for a table that does not exist.
const TABLE: &str =
    "SELECT c.relrowsecurity, c.relforcerowsecurity FROM pg_class c WHERE c.oid = to_regclass($1)";

/// What [`check_rls`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RlsStatus {
    /// Postgres: the role is subject to policies and every listed table has
    /// row-level security enabled and forced.
    Enforced,
    /// SQLite: there is no row-level security to check; the app filters by
    /// tenant in every query.
    NotSupported,
}

/// One reason the policies would not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RlsProblem {
    /// The connected role is a superuser: it bypasses every policy.
    Superuser {
        /// The role.
        role: String,
    },
    /// The connected role has `BYPASSRLS`.
    BypassRls {
        /// The role.
        role: String,
    },
    /// The table does not exist (or is not visible on the search path).
    MissingTable {
        /// The table as listed.
        table: String,
    },
    /// `ALTER TABLE ... ENABLE ROW LEVEL SECURITY` was not run: every row
    /// is visible to everyone.
    NotEnabled {
        /// The table.
        table: String,
    },
    /// `ALTER TABLE ... FORCE ROW LEVEL SECURITY` was not run: the table's
    /// owner (often the role the app connects as) bypasses the policies.
    NotForced {
        /// The table.
        table: String,
    },
}

impl fmt::Display for RlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Superuser { role } => write!(
                f,
                "role {role:?} is a superuser and bypasses row-level security: connect as a role without SUPERUSER"
            ),
            Self::BypassRls { role } => write!(
                f,
                "role {role:?} has BYPASSRLS: run ALTER ROLE {role} NOBYPASSRLS"
            ),
            Self::MissingTable { table } => write!(f, "table {table:?} does not exist"),
            Self::NotEnabled { table } => write!(
                f,
                "table {table:?} does not have row-level security enabled: run ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"
            ),
            Self::NotForced { table } => write!(
                f,
                "table {table:?} does not force row-level security on its owner: run ALTER TABLE {table} FORCE ROW LEVEL SECURITY"
            ),
        }
    }
}

/// Why [`check_rls`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckRlsError {
    /// Tenant rows would not be isolated; every problem found is listed.
    #[error("row-level security would not isolate tenants: {}", list(.0))]
    Unsafe(Vec<RlsProblem>),
    /// The check's queries failed.
    #[error("could not check row-level security: {0}")]
    Database(#[from] ::sqlx::Error),
}

impl CheckRlsError {
    /// The problems found (empty for a database error).
    pub fn problems(&self) -> &[RlsProblem] {
        match self {
            Self::Unsafe(problems) => problems,
            Self::Database(_) => &[],
        }
    }
}

fn list(problems: &[RlsProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks, once at start-up, that row-level security will isolate tenants
/// on `pool`: the role the pool connects as is neither a superuser nor
/// `BYPASSRLS`, and every table in `tables` exists and has row-level
/// security enabled and forced (`relrowsecurity` and `relforcerowsecurity`
/// in `pg_class`). Every problem is reported, not only the first.
///
/// On SQLite (and on an `AnyPool` connected to SQLite) there is nothing to
/// check: [`RlsStatus::NotSupported`].
///
/// # Example
///
/// ```no_run
/// use rampart_tenant::sqlx::{RlsStatus, check_rls};
///
/// # async fn run(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// match check_rls(&pool, &["companies", "contacts", "calls"]).await {
///     Ok(RlsStatus::Enforced) => {}
///     Ok(_) => eprintln!("no row-level security on this database"),
///     Err(err) => return Err(err.into()), // e.g. `table "calls" does not force ...`
/// }
/// # Ok(()) }
/// ```
pub async fn check_rls<DB: TenantDatabase>(
    pool: &Pool<DB>,
    tables: &[&str],
) -> Result<RlsStatus, CheckRlsError>
where
    for<'c> &'c mut DB::Connection: ::sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments: ::sqlx::IntoArguments<DB>,
    for<'q> &'q str: ::sqlx::Encode<'q, DB> + ::sqlx::Type<DB>,
    String: for<'r> ::sqlx::Decode<'r, DB> + ::sqlx::Type<DB>,
    bool: for<'r> ::sqlx::Decode<'r, DB> + ::sqlx::Type<DB>,
    usize: ::sqlx::ColumnIndex<DB::Row>,
{
    // A transaction only to find out what the connection is (`Any`).
    let mut tx = pool.begin().await?;
    if !DB::is_postgres(&tx) {
        tx.rollback().await?;
        return Ok(RlsStatus::NotSupported);
    }
    let mut problems = Vec::new();
    if let Some(row) = ::sqlx::query(ROLE).fetch_optional(&mut *tx).await? {
        let role: String = row.try_get(0)?;
        if row.try_get::<bool, _>(1)? {
            problems.push(RlsProblem::Superuser { role: role.clone() });
        }
        if row.try_get::<bool, _>(2)? {
            problems.push(RlsProblem::BypassRls { role });
        }
    }
    for &table in tables {
        let row = ::sqlx::query(TABLE)
            .bind(table)
            .fetch_optional(&mut *tx)
            .await?;
        let table = table.to_owned();
        match row {
            None => problems.push(RlsProblem::MissingTable { table }),
            Some(row) => {
                let enabled: bool = row.try_get(0)?;
                let forced: bool = row.try_get(1)?;
                if !enabled {
                    problems.push(RlsProblem::NotEnabled {
                        table: table.clone(),
                    });
                }
                if !forced {
                    problems.push(RlsProblem::NotForced { table });
                }
            }
        }
    }
    tx.rollback().await?;
    if problems.is_empty() {
        Ok(RlsStatus::Enforced)
    } else {
        Err(CheckRlsError::Unsafe(problems))
    }
}
