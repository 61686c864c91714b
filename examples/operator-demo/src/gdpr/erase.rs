//! Erasure after the grace period: what happens to each table, the job the
//! server runs every `GDPR_PURGE_INTERVAL_SECS`, and `operator-demo gdpr
//! purge` (the same work, for cron; `--now` moves its clock).
//!
//! One user's erasure is one transaction in their organization:
//!
//! | table | what happens |
//! |---|---|
//! | `erasure_requests` | the request is claimed (deleted); none due: nothing is done |
//! | `users` | the row is deleted; a tombstone with a new random id, no email (`erased-<id>@erased.invalid`), no name and no password takes its place |
//! | `user_logins` | the row is deleted: the email no longer logs in |
//! | `privacy_settings` | deleted |
//! | `call_sessions` | kept for the organization, owned by the tombstone |
//! | `call_dispositions` they made | outcome kept; `notes` `[ANONYMIZED]`, `custom_fields` `{}`, `updated_by` the tombstone |
//! | `audit_events` | kept; the user's id (as actor or target) becomes `erased:` + HMAC-SHA256 of it; the client address and request id of their events are cleared |
//!
//! Claiming the request first makes the work happen once when several
//! replicas run the job at the same moment: on Postgres the second waits
//! for the first's row lock, then finds nothing to claim.

use std::time::Duration;

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};
use serde_json::json;
use sqlx::{Any, Row, Transaction};

use super::{
    UserHasher,
    audit::{self, NewEvent, Origin},
};
use crate::db::{Backend, Db};

/// What a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Users erased.
    pub erased: u64,
    /// Users whose erasure failed (logged; tried again next run).
    pub failed: u64,
}

/// The most erasures one run does; the next run takes the rest.
pub const MAX_PER_RUN: i64 = 1000;

/// Erases every user whose grace period ended by `now` (Unix seconds).
///
/// # Errors
///
/// The driver's error when the due requests cannot be listed; a failed
/// erasure is logged and counted in [`PurgeReport::failed`].
///
/// With `cache` (the server's job, and `operator-demo gdpr purge` when the
/// servers share Redis), each erased user's cached answers (`/auth/me`,
/// their preferences, the sessions and organization view of their
/// organization) are invalidated at once.
pub async fn purge_due(
    db: &Db,
    hasher: &UserHasher,
    now: i64,
    cache: Option<&rampart::cache::Cache>,
) -> Result<PurgeReport, sqlx::Error> {
    // erasure_requests holds ids and times only, without row-level
    // security: the one list that spans organizations (as user_logins).
    let due = sqlx::query(
        "SELECT user_id, organization_id FROM erasure_requests WHERE erase_after <= $1 \
         ORDER BY erase_after LIMIT $2",
    )
    .bind(now)
    .bind(MAX_PER_RUN)
    .fetch_all(db.primary())
    .await?;
    let mut report = PurgeReport::default();
    for row in due {
        let (user_id, org_id): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        match erase_user(db, hasher, &org_id, &user_id, now).await {
            Ok(true) => {
                report.erased += 1;
                if let Some(cache) = cache {
                    let tags = crate::cache::tags_of(&["users", "sessions", "org"], &org_id);
                    crate::cache::invalidate(cache, &tags).await;
                }
            }
            Ok(false) => {}
            Err(err) => {
                tracing::error!(organization = %org_id, error = %err, "an erasure failed; it is tried again at the next run");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Erases `user_id` of `org_id` when their request is due by `now`;
/// `false` when there is none (cancelled, or done by another replica).
///
/// # Errors
///
/// The driver's error; nothing is changed then.
pub async fn erase_user(
    db: &Db,
    hasher: &UserHasher,
    org_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.write_tx(org_id).await?;
    let claimed = sqlx::query(
        "DELETE FROM erasure_requests WHERE user_id = $1 AND organization_id = $2 \
         AND erase_after <= $3",
    )
    .bind(user_id)
    .bind(org_id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(false);
    }
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE organization_id = $1 AND id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        tx.commit().await?;
        return Ok(false);
    }
    let counts = anonymize(&mut tx, db.backend(), hasher, org_id, user_id, now).await?;
    let hash = hasher.hash(user_id);
    audit::record(
        &mut tx,
        NewEvent {
            org_id,
            actor_id: None,
            action: "gdpr.erasure",
            target_type: "user",
            target_id: Some(&hash),
            details: counts,
        },
        &Origin::system(),
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(organization = %org_id, "a user was erased after the grace period");
    Ok(true)
}

async fn anonymize(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    hasher: &UserHasher,
    org_id: &str,
    user_id: &str,
    now: i64,
) -> Result<serde_json::Value, sqlx::Error> {
    // A new random id: nothing links the tombstone to the erased id.
    let tombstone = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO users (id, organization_id, email, full_name, password_hash, role, \
         created_at, erased_at) VALUES ($1, $2, $3, '', '', 'agent', $4, $4)",
    )
    .bind(&tombstone)
    .bind(org_id)
    .bind(format!("erased-{tombstone}@erased.invalid"))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let sessions = sqlx::query(
        "UPDATE call_sessions SET user_id = $3 WHERE organization_id = $1 AND user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(&tombstone)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let dispositions = sqlx::query(
        "UPDATE call_dispositions SET updated_by = $3, notes = '[ANONYMIZED]', \
         custom_fields = '{}' WHERE organization_id = $1 AND updated_by = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(&tombstone)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    for delete in [
        "DELETE FROM privacy_settings WHERE organization_id = $1 AND user_id = $2",
        "DELETE FROM user_logins WHERE organization_id = $1 AND user_id = $2",
        "DELETE FROM users WHERE organization_id = $1 AND id = $2",
    ] {
        sqlx::query(delete)
            .bind(org_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
    }
    let hash = hasher.hash(user_id);
    let audit_rows: i64 = match backend {
        // The app's role may not UPDATE audit_events: the owner's
        // function does this one change (migration 0004).
        Backend::Postgres => {
            sqlx::query_scalar("SELECT gdpr_pseudonymize_audit($1, $2)")
                .bind(user_id)
                .bind(&hash)
                .fetch_one(&mut **tx)
                .await?
        }
        Backend::Sqlite => {
            let actor = sqlx::query(
                "UPDATE audit_events SET actor_id = $3, client_ip = NULL, request_id = NULL \
                 WHERE organization_id = $1 AND actor_id = $2",
            )
            .bind(org_id)
            .bind(user_id)
            .bind(&hash)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            let target = sqlx::query(
                "UPDATE audit_events SET target_id = $3 \
                 WHERE organization_id = $1 AND target_id = $2",
            )
            .bind(org_id)
            .bind(user_id)
            .bind(&hash)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            i64::try_from(actor + target).unwrap_or(i64::MAX)
        }
    };
    Ok(json!({
        "call_sessions": sessions,
        "dispositions": dispositions,
        "audit_events": audit_rows,
    }))
}

/// The erasure job's series: `gdpr_erasures_total` and
/// `gdpr_purge_last_success_timestamp_seconds` (0 until a run succeeds).
///
/// ```
/// use operator_demo::gdpr::erase::PurgeMetrics;
/// use prometheus_client::{encoding::text::encode, registry::Registry};
///
/// let metrics = PurgeMetrics::default();
/// let mut registry = Registry::default();
/// metrics.register(&mut registry);
/// let mut text = String::new();
/// encode(&mut text, &registry).unwrap();
/// assert!(text.contains("gdpr_purge_last_success_timestamp_seconds 0"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct PurgeMetrics {
    erasures: Counter,
    last_success: Gauge,
}

impl PurgeMetrics {
    /// Adds the series to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gdpr_erasures",
            "Accounts erased after their grace period",
            self.erasures.clone(),
        );
        registry.register(
            "gdpr_purge_last_success_timestamp_seconds",
            "When the erasure job last ran without a failure (Unix seconds)",
            self.last_success.clone(),
        );
    }

    fn ran(&self, report: PurgeReport, now: i64) {
        self.erasures.inc_by(report.erased);
        if report.failed == 0 {
            self.last_success.set(now);
        }
    }
}

/// Runs [`purge_due`] every `interval` (the first run at once) until the
/// process ends, counting in `metrics`. Each replica may run it: see the
/// module docs.
pub fn spawn_job(
    db: Db,
    hasher: UserHasher,
    interval: Duration,
    metrics: PurgeMetrics,
    cache: Option<rampart::cache::Cache>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = crate::db::now();
            match purge_due(&db, &hasher, now, cache.as_ref()).await {
                Ok(report) => {
                    metrics.ran(report, now);
                    if report.erased > 0 || report.failed > 0 {
                        tracing::info!(
                            erased = report.erased,
                            failed = report.failed,
                            "erasure job ran"
                        );
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "erasure job: cannot list the due requests")
                }
            }
        }
    })
}
