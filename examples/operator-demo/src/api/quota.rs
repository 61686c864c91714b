//! The organization's quotas, checked inside the transaction that would
//! exceed them.
//!
//! Race-free: [`lock`] first takes rampart-tenant's `lock_tenant_resource`
//! for the organization and the resource (a transaction-scoped advisory lock
//! on Postgres; on SQLite the write transaction is `BEGIN IMMEDIATE`, the
//! only writer already), so two creates for one organization count one after
//! the other. Limits are per organization, in its row.

use axum::http::StatusCode;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use utoipa::ToSchema;

use rampart_tenant::sqlx::lock_tenant_resource;

use super::ApiError;
use crate::db::tenant;

/// An organization's limits.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Limits {
    /// Calls started per calendar month (UTC).
    pub max_calls_per_month: i64,
    /// Calls in progress at once.
    pub max_concurrent_calls: i64,
    /// Users.
    pub max_users: i64,
    /// Campaigns.
    pub max_campaigns: i64,
}

/// Serializes the creates of `resource` for the organization for the rest of
/// `tx` and reads the organization's limits.
pub(super) async fn lock(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    resource: &str,
) -> Result<Limits, ApiError> {
    lock_tenant_resource(tx, &tenant(org_id)?, resource).await?;
    let row = sqlx::query(
        "SELECT max_calls_per_month, max_concurrent_calls, max_users, max_campaigns \
         FROM organizations WHERE id = $1",
    )
    .bind(org_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ApiError::NotFound("organization"))?;
    Ok(Limits {
        max_calls_per_month: row.try_get(0)?,
        max_concurrent_calls: row.try_get(1)?,
        max_users: row.try_get(2)?,
        max_campaigns: row.try_get(3)?,
    })
}

/// 403 `max_users` when the organization has its limit of users already.
pub(super) async fn check_users(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    limits: &Limits,
) -> Result<(), ApiError> {
    let count = count(
        tx,
        "SELECT COUNT(*) FROM users WHERE organization_id = $1",
        org_id,
    )
    .await?;
    if count >= limits.max_users {
        return Err(ApiError::Quota {
            quota: "max_users",
            limit: limits.max_users,
            status: StatusCode::FORBIDDEN,
        });
    }
    Ok(())
}

/// 403 `max_campaigns` when the organization has its limit of campaigns already.
pub(super) async fn check_campaigns(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    limits: &Limits,
) -> Result<(), ApiError> {
    let count = count(
        tx,
        "SELECT COUNT(*) FROM campaigns WHERE organization_id = $1",
        org_id,
    )
    .await?;
    if count >= limits.max_campaigns {
        return Err(ApiError::Quota {
            quota: "max_campaigns",
            limit: limits.max_campaigns,
            status: StatusCode::FORBIDDEN,
        });
    }
    Ok(())
}

/// 429 `max_concurrent_calls` or `max_calls_per_month` when one more call
/// would exceed them.
pub(super) async fn check_calls(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    limits: &Limits,
    month_start: i64,
) -> Result<(), ApiError> {
    let active = active_calls(tx, org_id).await?;
    if active >= limits.max_concurrent_calls {
        return Err(ApiError::Quota {
            quota: "max_concurrent_calls",
            limit: limits.max_concurrent_calls,
            status: StatusCode::TOO_MANY_REQUESTS,
        });
    }
    let this_month = calls_since(tx, org_id, month_start).await?;
    if this_month >= limits.max_calls_per_month {
        return Err(ApiError::Quota {
            quota: "max_calls_per_month",
            limit: limits.max_calls_per_month,
            status: StatusCode::TOO_MANY_REQUESTS,
        });
    }
    Ok(())
}

/// Sessions in progress.
pub(super) async fn active_calls(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
) -> Result<i64, ApiError> {
    count(
        tx,
        "SELECT COUNT(*) FROM call_sessions WHERE organization_id = $1 AND status = 'active'",
        org_id,
    )
    .await
}

/// Sessions started since `since` (Unix seconds).
pub(super) async fn calls_since(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    since: i64,
) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM call_sessions WHERE organization_id = $1 AND started_at >= $2",
    )
    .bind(org_id)
    .bind(since)
    .fetch_one(&mut **tx)
    .await?)
}

async fn count(
    tx: &mut Transaction<'static, Any>,
    sql: &'static str,
    org_id: &str,
) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar(sql)
        .bind(org_id)
        .fetch_one(&mut **tx)
        .await?)
}

/// The first second of the current calendar month (UTC) of `now` (Unix seconds).
///
/// ```
/// // 2026-11-26T00:30:00Z -> 2026-11-01T00:00:00Z
/// assert_eq!(operator_demo::api::month_start(1_795_653_000), 1_793_491_200);
/// ```
pub fn month_start(now: i64) -> i64 {
    let days = now.div_euclid(86_400);
    let (year, month, _) = civil_from_days(days);
    days_from_civil(year, month, 1) * 86_400
}

// Howard Hinnant's public-domain calendar algorithms: std has no calendar and
// the app needs only the month's first day.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_start_of_known_dates() {
        assert_eq!(month_start(0), 0);
        // 2024-02-29T12:00:00Z -> 2024-02-01
        assert_eq!(month_start(1_709_208_000), 1_706_745_600);
        // 2026-01-01T00:00:00Z is its own month start
        assert_eq!(month_start(1_767_225_600), 1_767_225_600);
        // one second earlier is December
        assert_eq!(month_start(1_767_225_599), 1_764_547_200);
    }
}
