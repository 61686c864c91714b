//! The organization's quotas, checked inside the transaction that would
//! exceed them, race-free.
//!
//! - Users and campaigns: [`lock`] first takes rampart-tenant's
//!   `lock_tenant_resource` for the organization and the resource (a
//!   transaction-scoped advisory lock on Postgres; on SQLite the write
//!   transaction is `BEGIN IMMEDIATE`, the only writer already), so two
//!   creates for one organization count one after the other.
//! - Calls: [`count_call`] counts the call in the organization's
//!   `call_usage` row (the calls started this month) with one conditional
//!   upsert, which is the `max_calls_per_month` check, in constant time;
//!   the row's lock then serializes the organization's session starts until
//!   the transaction ends, so [`store_within_quotas`] can count the
//!   active calls for `max_concurrent_calls` without an advisory lock. A
//!   refusal rolls the transaction back, and the count with it.
//!
//! Limits are per organization, in its row, read in the same statements.

use std::time::{Duration, UNIX_EPOCH};

use axum::http::StatusCode;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use utoipa::ToSchema;

use rampart_tenant::{Month, sqlx::lock_tenant_resource};

use super::ApiError;
use crate::db::{
    Backend,
    sessions::{self, NewSession},
    tenant,
};

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
    limits(tx, org_id).await
}

/// The organization's limits; 404 when it is gone.
async fn limits(tx: &mut Transaction<'static, Any>, org_id: &str) -> Result<Limits, ApiError> {
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
    let users = "SELECT COUNT(*) FROM users WHERE organization_id = $1 AND erased_at IS NULL";
    check_room(tx, org_id, users, "max_users", limits.max_users).await
}

/// 403 `max_campaigns` when the organization has its limit of campaigns already.
pub(super) async fn check_campaigns(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    limits: &Limits,
) -> Result<(), ApiError> {
    let campaigns = "SELECT COUNT(*) FROM campaigns WHERE organization_id = $1";
    check_room(tx, org_id, campaigns, "max_campaigns", limits.max_campaigns).await
}

/// 403 `quota` unless `count` (a `SELECT COUNT(*) ... WHERE organization_id
/// = $1`) is below `limit`.
async fn check_room(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    count: &'static str,
    quota: &'static str,
    limit: i64,
) -> Result<(), ApiError> {
    let count: i64 = sqlx::query_scalar(count)
        .bind(org_id)
        .fetch_one(&mut **tx)
        .await?;
    if count >= limit {
        return Err(ApiError::Quota {
            quota,
            limit,
            status: StatusCode::FORBIDDEN,
        });
    }
    Ok(())
}

/// The month's call counted in the organization's `call_usage` row, with
/// `$1` the organization and `$2` the month: a row back only when it was
/// counted. See [`count_call`].
macro_rules! count_call_sql {
    () => {
        "INSERT INTO call_usage (organization_id, month, calls) \
         SELECT id, $2, 1 FROM organizations WHERE id = $1 AND max_calls_per_month > 0 \
         ON CONFLICT (organization_id) DO UPDATE SET \
         calls = CASE WHEN call_usage.month < excluded.month THEN 1 \
                 ELSE call_usage.calls + 1 END, \
         month = CASE WHEN call_usage.month < excluded.month THEN excluded.month \
                 ELSE call_usage.month END \
         WHERE (CASE WHEN call_usage.month < excluded.month THEN 0 ELSE call_usage.calls END) \
         < (SELECT max_calls_per_month FROM organizations WHERE id = excluded.organization_id) \
         RETURNING calls"
    };
}

/// Counts one more call this month for the organization, in its
/// `call_usage` row; `false` when the month's calls have reached
/// `max_calls_per_month` (or the organization is gone).
///
/// One statement: an upsert whose update happens only while there is room
/// (`calls < max_calls_per_month`, the count starting again at 0 in a new
/// month), returning the row only when it counted the call. Postgres runs
/// `ON CONFLICT DO UPDATE` on the latest version of the row under its lock,
/// so concurrent starts are counted one after the other and never pass the
/// limit together; the lock lasts until `tx` ends, which is what
/// serializes the organization's starts for [`store_within_quotas`]. A
/// request whose clock is behind (`month` older than the row's) counts in
/// the row's month rather than starting an old one again.
async fn count_call(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    month: i64,
) -> Result<bool, sqlx::Error> {
    let counted = sqlx::query(count_call_sql!())
        .bind(org_id)
        .bind(month)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(counted.is_some())
}

/// On Postgres, [`count_call`] and the session and call inserts in one
/// statement (one round trip instead of three): the inserts read the
/// counted row, so they happen only when the call was counted, and the
/// call's foreign key is checked at the end of the statement. `$3`.. are
/// the session's id, user, campaign, provider type, telephony provider,
/// start, then the call's id, from and to numbers. SQLite has no
/// data-modifying `WITH`: it runs the three statements.
const COUNT_AND_STORE_POSTGRES: &str = concat!(
    "WITH counted AS (",
    count_call_sql!(),
    "), session AS (INSERT INTO call_sessions (id, organization_id, user_id, campaign_id, \
       provider_type, telephony_provider, status, started_at) \
       SELECT $3, $1, $4, $5, $6, $7, 'active', $8 FROM counted RETURNING id), \
     call AS (INSERT INTO calls (id, organization_id, session_id, provider, from_number, \
       to_number, started_at) \
       SELECT $9, $1, id, $7, $10, $11, $8 FROM session RETURNING id) \
     SELECT COUNT(*) FROM call"
);

/// Counts the month's call and stores the new session and its call, then
/// checks the active calls, in `tx`: 429 `max_calls_per_month` or
/// `max_concurrent_calls` when either is reached (the caller's rollback
/// undoes the rows and the count), 404 when the organization is gone.
///
/// The call is counted ([`count_call`]) in the organization's row, whose
/// lock serializes its starts until `tx` ends: the less is done under it,
/// the less the others wait. On Postgres the count and the inserts are
/// one statement ([`COUNT_AND_STORE_POSTGRES`]), so the lock spans that
/// statement's end, the check and the commit; on SQLite, where `BEGIN
/// IMMEDIATE` makes the whole transaction one writer's, the inserts come
/// first. The check is a new statement: under the lock it sees every
/// session committed by the starts that held it before (read committed),
/// and this one's own, and the active calls, this one included, must not
/// exceed the limit.
#[cfg_attr(
    not(feature = "telephony"),
    expect(
        dead_code,
        reason = "only a session start (the telephony feature) uses it"
    )
)]
pub(super) async fn store_within_quotas(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    new: &NewSession,
) -> Result<(), ApiError> {
    let month = month_start(new.at);
    let counted = match backend {
        Backend::Postgres => {
            let stored: i64 = sqlx::query_scalar(COUNT_AND_STORE_POSTGRES)
                .bind(&new.org)
                .bind(month)
                .bind(&new.id)
                .bind(&new.user)
                .bind(&new.campaign_id)
                .bind(&new.provider_type)
                .bind(new.telephony_provider)
                .bind(new.at)
                .bind(&new.call_id)
                .bind(&new.from)
                .bind(&new.to)
                .fetch_one(&mut **tx)
                .await?;
            stored == 1
        }
        Backend::Sqlite => {
            sessions::insert_session(tx, new).await?;
            sessions::insert_call(tx, new).await?;
            count_call(tx, &new.org, month).await?
        }
    };
    if !counted {
        return Err(ApiError::Quota {
            quota: "max_calls_per_month",
            limit: limits(tx, &new.org).await?.max_calls_per_month,
            status: StatusCode::TOO_MANY_REQUESTS,
        });
    }
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM call_sessions \
                 WHERE organization_id = $1 AND status = 'active'), max_concurrent_calls \
         FROM organizations WHERE id = $1",
    )
    .bind(&new.org)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ApiError::NotFound("organization"))?;
    let (active, limit): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if active <= limit {
        return Ok(());
    }
    Err(ApiError::Quota {
        quota: "max_concurrent_calls",
        limit,
        status: StatusCode::TOO_MANY_REQUESTS,
    })
}

/// The first second of the current calendar month (UTC) of `now` (Unix seconds).
///
/// ```
/// // 2026-11-26T00:30:00Z -> 2026-11-01T00:00:00Z
/// assert_eq!(operator_demo::api::month_start(1_795_653_000), 1_793_491_200);
/// ```
pub fn month_start(now: i64) -> i64 {
    let since_epoch = Duration::from_secs(u64::try_from(now).unwrap_or(0));
    let month = Month::containing(UNIX_EPOCH + since_epoch);
    i64::try_from(month.start_unix()).unwrap_or(i64::MAX)
}

// The call quotas are checked by a session start (the telephony feature).
#[cfg(all(test, feature = "telephony"))]
mod tests {
    use super::*;
    use crate::{
        api::testing::{a_user, drop_pg, new_session, postgres, seeded},
        db::{Db, DbConfig, now, seed::org_id},
    };

    /// What the session start's transaction does, at `month` (its first
    /// second): store the session and its call within the quotas, commit.
    /// `Err` names the quota that refused.
    async fn start(db: &Db, org: &str, user: &str, month: i64) -> Result<(), &'static str> {
        let attempt = async {
            let mut tx = db.write_tx(org).await?;
            let new = new_session(org, user, month);
            store_within_quotas(&mut tx, db.backend(), &new).await?;
            tx.commit().await?;
            Ok::<_, ApiError>(())
        };
        attempt.await.map_err(|err| match err {
            ApiError::Quota { quota, .. } => quota,
            other => panic!("not a quota refusal: {other}"),
        })
    }

    /// `n` starts at once: how many passed, and every refusal's quota.
    async fn race(
        db: &Db,
        org: &str,
        user: &str,
        month: i64,
        n: usize,
    ) -> (usize, Vec<&'static str>) {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (db, org, user) = (db.clone(), org.to_owned(), user.to_owned());
            tasks.spawn(async move { start(&db, &org, &user, month).await });
        }
        let (mut passed, mut refused) = (0, Vec::new());
        while let Some(outcome) = tasks.join_next().await {
            match outcome.unwrap() {
                Ok(()) => passed += 1,
                Err(quota) => refused.push(quota),
            }
        }
        (passed, refused)
    }

    /// Runs `statement` with the organization as `$1` and `values` after it.
    async fn exec(db: &Db, org: &str, statement: &'static str, values: &[i64]) {
        let mut tx = db.write_tx(org).await.unwrap();
        let mut query = sqlx::query(statement).bind(org);
        for value in values {
            query = query.bind(*value);
        }
        query.execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn limits(db: &Db, org: &str, per_month: i64, concurrent: i64) {
        let update = "UPDATE organizations SET max_calls_per_month = $2, \
                      max_concurrent_calls = $3 WHERE id = $1";
        exec(db, org, update, &[per_month, concurrent]).await;
    }

    /// (month, calls) of the organization's counter row.
    async fn usage(db: &Db, org: &str) -> (i64, i64) {
        let mut tx = db.write_tx(org).await.unwrap();
        let row = sqlx::query("SELECT month, calls FROM call_usage WHERE organization_id = $1")
            .bind(org)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        (row.get(0), row.get(1))
    }

    async fn call_quotas_are_exact(db: &Db) {
        let org = org_id(1);
        let user = a_user(db, &org).await;
        let month = month_start(now());

        // Twenty at once, three at a time: exactly three, and the refused
        // ones are not counted in the month.
        limits(db, &org, 100, 3).await;
        let (passed, refused) = race(db, &org, &user, month, 20).await;
        assert_eq!(passed, 3, "{refused:?}");
        assert!(
            refused.iter().all(|q| *q == "max_concurrent_calls"),
            "{refused:?}"
        );
        assert_eq!(usage(db, &org).await, (month, 3));

        // Five a month, three used, no concurrency limit: two more.
        let end_all = "UPDATE call_sessions SET status = 'ended' WHERE organization_id = $1";
        exec(db, &org, end_all, &[]).await;
        limits(db, &org, 5, 100).await;
        let (passed, refused) = race(db, &org, &user, month, 20).await;
        assert_eq!(passed, 2, "{refused:?}");
        assert!(
            refused.iter().all(|q| *q == "max_calls_per_month"),
            "{refused:?}"
        );
        assert_eq!(usage(db, &org).await, (month, 5));

        // The next month starts from zero; a request whose clock is still
        // in the last month counts in the new one.
        let next = month_start(month + 40 * 86_400);
        assert_eq!(start(db, &org, &user, next).await, Ok(()));
        assert_eq!(usage(db, &org).await, (next, 1));
        assert_eq!(start(db, &org, &user, month).await, Ok(()));
        assert_eq!(usage(db, &org).await, (next, 2));

        // No calls at all, with or without a counter row.
        limits(db, &org, 0, 100).await;
        assert_eq!(
            start(db, &org, &user, next).await,
            Err("max_calls_per_month")
        );
        let forget = "DELETE FROM call_usage WHERE organization_id = $1";
        exec(db, &org, forget, &[]).await;
        assert_eq!(
            start(db, &org, &user, next).await,
            Err("max_calls_per_month")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn call_quotas_are_exact_under_concurrency_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = seeded(&DbConfig::embedded(dir.path()).url).await;
        call_quotas_are_exact(&db).await;
        db.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn call_quotas_are_exact_under_concurrency_on_postgres() {
        let Some((db, url, name)) = postgres().await else {
            return;
        };
        call_quotas_are_exact(&db).await;
        drop_pg(db, &url, &name).await;
    }

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
