//! Postgres row-level security per tenant, through sqlx (features
//! `sqlx-postgres`, `sqlx-sqlite`, `sqlx-any`).
//!
//! [`begin_tenant_tx`] opens a transaction and, on Postgres, sets
//! `app.current_org_id` in it with `set_config(..., true)`, in the same
//! round trip as the `BEGIN`: the setting is local to that transaction, so
//! it ends with the commit or rollback and the pooled connection goes back
//! to the pool with no tenant. [`begin_tenant_read_tx`] does the same for a
//! read-only transaction. A plain
//! `SET app.current_org_id = ...` would stay on the connection and leak into
//! the next request that borrows it; `SET LOCAL` outside a transaction does
//! nothing at all. Every query of the request runs in the returned
//! transaction.
//!
//! [`check_rls`] is the start-up check: the connected role is neither a
//! superuser nor `BYPASSRLS` (both skip every policy), and every tenant table
//! has row-level security enabled and forced.
//!
//! SQLite has no row-level security: the same call opens the transaction
//! (`BEGIN IMMEDIATE`, see [`begin_tenant_tx`]) without `set_config`, and the
//! app filters by tenant in every query. On an `AnyPool` the choice is made
//! per connection, from the backend it is connected to.
//!
//! # Example
//!
//! ```no_run
//! use rampart_tenant::TenantId;
//!
//! # async fn run(pool: sqlx::AnyPool) -> Result<(), sqlx::Error> {
//! let tenant: TenantId = "acme".parse().unwrap();
//! let mut tx = rampart_tenant::sqlx::begin_tenant_tx(&pool, &tenant).await?;
//! // RLS on Postgres limits this to acme's rows; on SQLite the app adds
//! // `WHERE organization_id = ?` itself.
//! let rows = sqlx::query("SELECT name FROM companies").fetch_all(&mut *tx).await?;
//! tx.commit().await?;
//! # let _ = rows; Ok(()) }
//! ```

mod backend;
mod check;
#[cfg(all(test, feature = "sqlx-postgres", feature = "sqlx-any"))]
mod tests;

pub use self::{
    backend::{
        TenantDatabase, begin_tenant_read_tx, begin_tenant_tx, lock_tenant_resource, set_tenant,
    },
    check::{CheckRlsError, RlsProblem, RlsStatus, check_rls},
};

/// The Postgres setting that carries the tenant inside a transaction, and
/// that the policies read with `current_setting('app.current_org_id', true)`.
pub const SETTING: &str = "app.current_org_id";
