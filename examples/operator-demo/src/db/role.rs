//! The start-up check that row-level security actually applies to the role
//! the app connects as. rampart-tenant's `check_rls` takes over when it lands.

use sqlx::{AnyPool, Row};

/// The tables that hold one organization's rows; each must have row-level
/// security enabled and forced.
pub const TENANT_TABLES: [&str; 10] = [
    "organizations",
    "users",
    "companies",
    "campaigns",
    "call_sessions",
    "calls",
    "call_dispositions",
    "call_usage",
    "audit_events",
    "privacy_settings",
];

/// Why the database role would see through row-level security.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoleCheckError {
    /// The role is a superuser or has `BYPASSRLS`.
    #[error(
        "the database role `{role}` is {what}, so row-level security does not apply to it; \
         connect as a role without it (docs/configuration.md), or set \
         ALLOW_PRIVILEGED_DB_ROLE=true for local development"
    )]
    Privileged {
        /// The role's name.
        role: String,
        /// `superuser` or `BYPASSRLS`.
        what: &'static str,
    },
    /// A tenant table lacks row-level security (migrations not applied?).
    #[error(
        "table `{table}` does not have row-level security enabled and forced; \
         run `operator-demo migrate up`"
    )]
    TableWithoutRls {
        /// The table.
        table: &'static str,
    },
    /// The check's query failed.
    #[error("cannot check the database role: {0}")]
    Query(#[from] sqlx::Error),
}

pub(super) async fn check(pool: &AnyPool) -> Result<(), RoleCheckError> {
    let row = sqlx::query(
        "SELECT current_user::text, rolsuper::int4, rolbypassrls::int4 \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    let role: String = row.try_get(0)?;
    if row.try_get::<i32, _>(1)? != 0 {
        return Err(RoleCheckError::Privileged {
            role,
            what: "a superuser",
        });
    }
    if row.try_get::<i32, _>(2)? != 0 {
        return Err(RoleCheckError::Privileged {
            role,
            what: "BYPASSRLS",
        });
    }
    check_tables(pool).await
}

pub(super) async fn check_tables(pool: &AnyPool) -> Result<(), RoleCheckError> {
    for table in TENANT_TABLES {
        let row = sqlx::query(
            "SELECT (relrowsecurity AND relforcerowsecurity)::int4 FROM pg_class \
             WHERE oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_optional(pool)
        .await?;
        let forced = match row {
            Some(row) => row.try_get::<i32, _>(0)? != 0,
            None => false,
        };
        if !forced {
            return Err(RoleCheckError::TableWithoutRls { table });
        }
    }
    Ok(())
}
