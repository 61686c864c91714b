//! The audit log: `audit_events`, one row per GDPR action, admin action and
//! erasure run, written in the action's own transaction (an action whose
//! audit row fails is rolled back with it). Tenant-scoped (row-level
//! security on Postgres); append-only for the app's role there (a trigger,
//! and no UPDATE or DELETE grant).

use axum::{
    extract::FromRequestParts,
    http::{Extensions, HeaderMap, request::Parts},
};
use rampart::core::ClientIp;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Row, Transaction, any::AnyRow};
use utoipa::ToSchema;

use crate::db::{new_id, now};

/// Where an action came from: the request id (`x-request-id`) and the
/// client address rampart-core resolved. An extractor that never fails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The request's `x-request-id`, at most 200 characters.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
}

impl Origin {
    /// The origin of a request with these headers and extensions.
    pub fn of(headers: &HeaderMap, extensions: &Extensions) -> Self {
        Self {
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 200)
                .map(str::to_owned),
            client_ip: extensions.get::<ClientIp>().map(|ip| ip.ip().to_string()),
        }
    }

    /// No request: the erasure job, a command.
    pub fn system() -> Self {
        Self::default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers, &parts.extensions))
    }
}

/// One action to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The organization it happened in.
    pub org_id: &'a str,
    /// The acting user, `None` for the system.
    pub actor_id: Option<&'a str>,
    /// What: `gdpr.export`, `gdpr.deletion_requested`, `user.create`, ...
    pub action: &'static str,
    /// The kind of thing acted on: `user`, `privacy_settings`, ...
    pub target_type: &'static str,
    /// Its id.
    pub target_id: Option<&'a str>,
    /// Figures of the action (counts, dates), never PII.
    pub details: Value,
}

/// Writes `event` in `tx`, at `at` (Unix seconds).
///
/// # Errors
///
/// The driver's error.
pub async fn record(
    tx: &mut Transaction<'static, Any>,
    event: NewEvent<'_>,
    origin: &Origin,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (id, organization_id, actor_id, action, target_type, \
         target_id, request_id, client_ip, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id())
    .bind(event.org_id)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.target_type)
    .bind(event.target_id)
    .bind(origin.request_id.as_deref())
    .bind(origin.client_ip.as_deref())
    .bind(event.details.to_string())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// [`record`] now.
///
/// # Errors
///
/// The driver's error.
pub async fn record_now(
    tx: &mut Transaction<'static, Any>,
    event: NewEvent<'_>,
    origin: &Origin,
) -> Result<(), sqlx::Error> {
    record(tx, event, origin, now()).await
}

/// An audit log entry as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Its id.
    pub id: String,
    /// The organization.
    pub organization_id: String,
    /// The acting user's id; `erased:<hash>` once that user is erased;
    /// null for the system.
    pub actor_id: Option<String>,
    /// What was done.
    pub action: String,
    /// The kind of thing acted on.
    pub target_type: String,
    /// Its id.
    pub target_id: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// Figures of the action.
    #[schema(value_type = Object)]
    pub details: Value,
    /// When (Unix seconds).
    pub created_at: i64,
}

/// The columns [`AuditEvent::from_row`] reads.
pub const COLUMNS: &str = "id, organization_id, actor_id, action, target_type, target_id, \
                           request_id, client_ip, details, created_at";

impl AuditEvent {
    /// A row of `SELECT` [`COLUMNS`].
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let details: String = row.try_get("details")?;
        Ok(Self {
            id: row.try_get("id")?,
            organization_id: row.try_get("organization_id")?,
            actor_id: row.try_get("actor_id")?,
            action: row.try_get("action")?,
            target_type: row.try_get("target_type")?,
            target_id: row.try_get("target_id")?,
            request_id: row.try_get("request_id")?,
            client_ip: row.try_get("client_ip")?,
            details: serde_json::from_str(&details).unwrap_or(Value::String(details)),
            created_at: row.try_get("created_at")?,
        })
    }
}
