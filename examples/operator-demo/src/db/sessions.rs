//! The steps of starting a call session, each a small function named for
//! what it does. `api::sessions::create` checks the request, then runs
//! them (with the quota checks of `api::quota` between them):
//!
//! 1. in one write transaction: [`campaign_exists`], [`insert_session`],
//!    [`insert_call`] and the month's call counted (on Postgres one
//!    statement, see `api::quota::store_within_quotas`), then the
//!    concurrent calls checked;
//! 2. the provider places the call, outside any transaction, so that no
//!    lock is held while it answers;
//! 3. [`mark_failed`] when no provider could place it, else
//!    [`record_provider`].

use sqlx::{Any, Row, Transaction};

use super::Db;

/// A session about to start: the request's checked input, who starts it,
/// and the ids and time it is stored with.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session's id.
    pub id: String,
    /// Its call's id.
    pub call_id: String,
    /// The organization.
    pub org: String,
    /// The user who starts it.
    pub user: String,
    /// A campaign of the organization, if any.
    pub campaign_id: Option<String>,
    /// The voice provider asked for.
    pub provider_type: String,
    /// The telephony provider asked for (`twilio`, `telnyx`, `simulated`).
    pub telephony_provider: &'static str,
    /// Calling number (E.164).
    pub from: String,
    /// Called number (E.164).
    pub to: String,
    /// When it starts (Unix seconds).
    pub at: i64,
}

/// How a call stands once its provider is recorded: ended already (by an
/// `end` that came first) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEnd {
    /// When it ended (Unix seconds).
    pub ended_at: Option<i64>,
    /// How long it lasted, in seconds.
    pub duration_seconds: Option<i64>,
}

/// Whether the organization has campaign `campaign_id`.
///
/// # Errors
///
/// The driver's error.
pub async fn campaign_exists(
    tx: &mut Transaction<'static, Any>,
    org: &str,
    campaign_id: &str,
) -> Result<bool, sqlx::Error> {
    let found: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM campaigns WHERE organization_id = $1 AND id = $2")
            .bind(org)
            .bind(campaign_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(found > 0)
}

/// Inserts the session, active. `api::quota` then checks, in the same
/// transaction, that the organization's active calls (this one included)
/// stay within its `max_concurrent_calls`.
///
/// # Errors
///
/// The driver's error.
pub async fn insert_session(
    tx: &mut Transaction<'static, Any>,
    new: &NewSession,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_sessions (id, organization_id, user_id, campaign_id, provider_type, \
         telephony_provider, status, started_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
    )
    .bind(&new.id)
    .bind(&new.org)
    .bind(&new.user)
    .bind(&new.campaign_id)
    .bind(&new.provider_type)
    .bind(new.telephony_provider)
    .bind(new.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts the session's call, with the provider asked for (the one that
/// places it is recorded by [`record_provider`]).
///
/// # Errors
///
/// The driver's error.
pub async fn insert_call(
    tx: &mut Transaction<'static, Any>,
    new: &NewSession,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO calls (id, organization_id, session_id, provider, from_number, to_number, \
         started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&new.call_id)
    .bind(&new.org)
    .bind(&new.id)
    .bind(new.telephony_provider)
    .bind(&new.from)
    .bind(&new.to)
    .bind(new.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the session failed, now: no provider could place its call.
///
/// # Errors
///
/// The driver's error.
pub async fn mark_failed(db: &Db, new: &NewSession) -> Result<(), sqlx::Error> {
    let mut tx = db.write_tx(&new.org).await?;
    sqlx::query(
        "UPDATE call_sessions SET status = 'failed', ended_at = $3 \
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(&new.org)
    .bind(&new.id)
    .bind(super::now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Records the provider that placed the call and its id for it; how the
/// call stands then (a session may have been ended meanwhile by another
/// request), or `None` when the call is gone.
///
/// # Errors
///
/// The driver's error.
pub async fn record_provider(
    db: &Db,
    new: &NewSession,
    provider: &str,
    provider_call_id: Option<&str>,
) -> Result<Option<CallEnd>, sqlx::Error> {
    let mut tx = db.write_tx(&new.org).await?;
    let row = sqlx::query(
        "UPDATE calls SET provider = $3, provider_call_id = $4 \
         WHERE organization_id = $1 AND id = $2 RETURNING ended_at, duration_seconds",
    )
    .bind(&new.org)
    .bind(&new.call_id)
    .bind(provider)
    .bind(provider_call_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(|row| {
        Ok(CallEnd {
            ended_at: row.try_get(0)?,
            duration_seconds: row.try_get(1)?,
        })
    })
    .transpose()
}
