//! The demo's tenancy: every organization is a tenant, taken from the
//! verified principal (never from a header or the host a client chooses).
//!
//! rampart-tenant's `TenantLayer` (layer 9) puts the `Tenant` in the request's
//! extensions, sets `current_tenant()` for code deep in the handler, and
//! enters a `tenant` span. With the database it also answers 404 for a token
//! whose organization no longer exists, and carries the organization's limits.
//!
//! The quotas themselves are checked in the database, inside the transaction
//! that would exceed them (`api::quota`): a call outlives the request that
//! starts it, so "calls in progress" is a count of rows, not of requests in
//! flight, and every replica sees the same count.

use std::time::Duration;

use rampart::tenant::{Limits, LookupError, TenantConfigError, TenantId, TenantLayer};
use sqlx::Row;

use crate::db::{Db, Freshness};

/// The plan's limits, for an organization whose row does not say otherwise.
pub fn default_limits() -> Limits {
    Limits::new()
        .max_concurrent(10)
        .monthly("max_calls_per_month", 10_000)
        .counted("max_users", 25)
        .counted("max_campaigns", 50)
}

/// The tenant layer: from the principal, optional (public routes have none),
/// with organizations looked up in `db` when given (cached for a minute).
///
/// # Errors
///
/// The layer's configuration error (none for these constants).
///
/// # Example
///
/// ```
/// let layer = operator_demo::tenancy::tenant_layer(None).unwrap();
/// assert_eq!(layer.stats().in_flight(), 0);
/// ```
pub fn tenant_layer(db: Option<Db>) -> Result<TenantLayer, TenantConfigError> {
    let builder = TenantLayer::builder()
        .from_principal::<crate::auth::Principal>()
        .optional()
        .cache(10_000, Duration::from_secs(60))
        .default_limits(default_limits());
    match db {
        None => builder.build(),
        Some(db) => builder
            .lookup(move |id: TenantId| {
                let db = db.clone();
                async move { organization_limits(&db, &id).await }
            })
            .build(),
    }
}

/// The organization's limits from its row; `None` when it does not exist.
async fn organization_limits(db: &Db, id: &TenantId) -> Result<Option<Limits>, LookupError> {
    // Through `Db::read`: retried once on the primary when the replica
    // fails mid-query or cancels it for recovery.
    let row = db
        .read(id.as_str(), Freshness::MayLag, |tx| {
            let id = id.as_str().to_owned();
            Box::pin(async move {
                sqlx::query(
                    "SELECT max_calls_per_month, max_concurrent_calls, max_users, max_campaigns \
                     FROM organizations WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
            })
        })
        .await
        .map_err(LookupError::new)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let column = |i: usize| {
        row.try_get::<i64, _>(i)
            .map(|v| u64::try_from(v).unwrap_or(0))
            .map_err(LookupError::new)
    };
    Ok(Some(
        Limits::new()
            .monthly("max_calls_per_month", column(0)?)
            .max_concurrent(u32::try_from(column(1)?).unwrap_or(u32::MAX))
            .counted("max_users", column(2)?)
            .counted("max_campaigns", column(3)?),
    ))
}
