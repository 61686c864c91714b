//! `/api/v1/gdpr/*`: the caller's export (GDPR art. 15 and 20), their
//! account's erasure after a grace period (art. 17) and their privacy
//! settings (art. 21). Each action writes an audit event in its own
//! transaction; docs/compliance.md says what each contains.

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, header},
};
use serde_json::{Value, json};
use sqlx::{Any, Transaction};
use std::sync::{Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};

use super::prelude::*;
use crate::{
    db::Db,
    gdpr::{
        audit::{self, NewEvent, Origin},
        rfc3339,
    },
    mail::Mail,
};

/// `DELETE /api/v1/gdpr/delete-account`'s body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountInput {
    /// The caller's email, typed again (case does not matter).
    #[schema(max_length = 254, example = "user2@example.com")]
    pub confirmation: String,
}

/// A scheduled erasure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErasureScheduled {
    /// Always `scheduled`.
    #[schema(example = "scheduled")]
    pub status: &'static str,
    /// When the deletion was asked for (Unix seconds).
    pub requested_at: i64,
    /// When the account is erased (Unix seconds), unless cancelled before.
    pub erase_after: i64,
    /// The same as an RFC 3339 UTC time.
    pub erase_at: String,
    /// Whether the confirmation mail went out (`sent`, `failed`; `not_sent`
    /// when the erasure was scheduled already).
    #[schema(example = "sent")]
    pub confirmation_email: &'static str,
}

/// `POST /api/v1/gdpr/cancel-deletion`'s answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErasureCancelled {
    /// Always `cancelled`.
    #[schema(example = "cancelled")]
    pub status: &'static str,
}

/// The caller's privacy settings; every flag is `false` until they set it
/// (docs/compliance.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct PrivacySettings {
    /// Product news and offers by mail.
    pub marketing_emails: bool,
    /// Their calls may be recorded.
    pub call_recording_consent: bool,
    /// Processing beyond what the service needs (art. 6(1)(a)).
    pub data_processing_consent: bool,
    /// Usage analytics.
    pub analytics: bool,
    /// When they last changed them (Unix seconds); null: the defaults.
    pub updated_at: Option<i64>,
}

impl PrivacySettings {
    /// The defaults: nothing consented to.
    pub const DEFAULT: Self = Self {
        marketing_emails: false,
        call_recording_consent: false,
        data_processing_consent: false,
        analytics: false,
        updated_at: None,
    };
}

/// `PUT /api/v1/gdpr/privacy-settings`'s body: every flag, as booleans.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettingsInput {
    /// Product news and offers by mail.
    pub marketing_emails: bool,
    /// Their calls may be recorded.
    pub call_recording_consent: bool,
    /// Processing beyond what the service needs.
    pub data_processing_consent: bool,
    /// Usage analytics.
    pub analytics: bool,
}

/// The caller's email, or 401 when the account is gone (a token of a user
/// erased since).
async fn account_email(
    tx: &mut Transaction<'static, Any>,
    principal: &Principal,
) -> Result<String, ApiError> {
    sqlx::query_scalar(
        "SELECT email FROM users WHERE organization_id = $1 AND id = $2 AND erased_at IS NULL",
    )
    .bind(&principal.org_id)
    .bind(&principal.user_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ApiError::BadCredentials)
}

fn event<'a>(principal: &'a Principal, action: &'static str, details: Value) -> NewEvent<'a> {
    NewEvent {
        org_id: &principal.org_id,
        actor_id: Some(&principal.user_id),
        action,
        target_type: "user",
        target_id: Some(&principal.user_id),
        details,
    }
}

/// Schedule the caller's erasure.
///
/// `DELETE /api/v1/gdpr/delete-account`: schedules the caller's erasure
/// after `GDPR_GRACE_DAYS` (30) and mails them a confirmation with a cancel
/// link; 202 with the date. `confirmation` must be their email (400 naming
/// it otherwise). Asked again while scheduled: 202 with the same date, no
/// second mail. Logins keep working until the erasure.
#[utoipa::path(delete, path = "/api/v1/gdpr/delete-account", tag = "gdpr",
    request_body = DeleteAccountInput,
    responses((status = 202, body = ErasureScheduled), (status = 400), (status = 401),
        (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn delete_account(
    State(state): State<AppState>,
    principal: Principal,
    origin: Origin,
    JsonBody(input): JsonBody<DeleteAccountInput>,
) -> Result<Response, ApiError> {
    let db = state.db()?;
    let gdpr = state.gdpr();
    let mut tx = db.write_tx(&principal.org_id).await?;
    let email = account_email(&mut tx, &principal).await?;
    if !input.confirmation.trim().eq_ignore_ascii_case(&email) {
        return Err(ApiError::Mismatch {
            field: "confirmation".into(),
            message: "must be the account's email".into(),
        });
    }
    let scheduled = sqlx::query(
        "SELECT requested_at, erase_after FROM erasure_requests WHERE organization_id = $1 \
         AND user_id = $2",
    )
    .bind(&principal.org_id)
    .bind(&principal.user_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = scheduled {
        let (requested_at, erase_after): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        tx.commit().await?;
        return Ok(scheduled_response(requested_at, erase_after, "not_sent"));
    }
    let requested_at = now();
    let grace = i64::try_from(gdpr.grace.as_secs()).unwrap_or(i64::MAX);
    let erase_after = requested_at.saturating_add(grace);
    sqlx::query(
        "INSERT INTO erasure_requests (user_id, organization_id, requested_at, erase_after) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&principal.user_id)
    .bind(&principal.org_id)
    .bind(requested_at)
    .bind(erase_after)
    .execute(&mut *tx)
    .await?;
    let details = json!({ "erase_after": erase_after });
    audit::record(
        &mut tx,
        event(&principal, "gdpr.deletion_requested", details),
        &origin,
        requested_at,
    )
    .await?;
    tx.commit().await?;

    let erase_at = rfc3339(erase_after);
    let mail = Mail {
        to: email,
        subject: format!("Your account will be deleted on {}", &erase_at[..10]),
        body: format!(
            "You asked us to delete your operator-demo account.\n\n\
             It will be erased on {erase_at}. Until then you can still log in, and you \
             can cancel the deletion here:\n\n{}/account/cancel-deletion\n\n\
             If you did not ask for this, cancel it and change your password.\n",
            gdpr.frontend_url
        ),
    };
    // After the commit: a mail server that is down does not undo the
    // request (the date is in the answer, and the admin sees it).
    let sent = match gdpr.mailer.send(mail).await {
        Ok(_) => "sent",
        Err(err) => {
            tracing::error!(error = %err, "the deletion confirmation mail was not sent");
            "failed"
        }
    };
    Ok(scheduled_response(requested_at, erase_after, sent))
}

fn scheduled_response(requested_at: i64, erase_after: i64, email: &'static str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(ErasureScheduled {
            status: "scheduled",
            requested_at,
            erase_after,
            erase_at: rfc3339(erase_after),
            confirmation_email: email,
        }),
    )
        .into_response()
}

/// Cancel the caller's scheduled erasure.
///
/// `POST /api/v1/gdpr/cancel-deletion`: cancels the caller's scheduled
/// erasure; 409 when none is scheduled or its grace period is over.
#[utoipa::path(post, path = "/api/v1/gdpr/cancel-deletion", tag = "gdpr",
    responses((status = 200, body = ErasureCancelled), (status = 401), (status = 409),
        (status = 503)),
    security(("bearer" = [])))]
pub async fn cancel_deletion(
    State(state): State<AppState>,
    principal: Principal,
    origin: Origin,
) -> Result<Json<ErasureCancelled>, ApiError> {
    let db = state.db()?;
    let at = now();
    let mut tx = db.write_tx(&principal.org_id).await?;
    account_email(&mut tx, &principal).await?;
    let cancelled = sqlx::query(
        "DELETE FROM erasure_requests WHERE organization_id = $1 AND user_id = $2 \
         AND erase_after > $3",
    )
    .bind(&principal.org_id)
    .bind(&principal.user_id)
    .bind(at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if cancelled == 0 {
        return Err(ApiError::Conflict(
            "no erasure of this account is scheduled (or its grace period is over)".into(),
        ));
    }
    audit::record(
        &mut tx,
        event(&principal, "gdpr.deletion_cancelled", json!({})),
        &origin,
        at,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ErasureCancelled {
        status: "cancelled",
    }))
}

const SETTINGS: &str = "SELECT marketing_emails, call_recording_consent, data_processing_consent, \
     analytics, updated_at FROM privacy_settings WHERE organization_id = $1 AND user_id = $2";

fn settings_from_row(row: &AnyRow) -> Result<PrivacySettings, sqlx::Error> {
    let flag = |i: usize| row.try_get::<i64, _>(i).map(|v| v != 0);
    Ok(PrivacySettings {
        marketing_emails: flag(0)?,
        call_recording_consent: flag(1)?,
        data_processing_consent: flag(2)?,
        analytics: flag(3)?,
        updated_at: Some(row.try_get(4)?),
    })
}

/// Read the caller's privacy settings.
///
/// `GET /api/v1/gdpr/privacy-settings`: the caller's settings (the
/// defaults, `updated_at` null, until they change one).
#[utoipa::path(get, path = "/api/v1/gdpr/privacy-settings", tag = "gdpr",
    responses((status = 200, body = PrivacySettings), (status = 401), (status = 503)),
    security(("bearer" = [])))]
pub async fn privacy_settings(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<PrivacySettings>, ApiError> {
    let row = rows::read_row(
        &state,
        &principal.org_id,
        Freshness::MayLag,
        SETTINGS,
        &principal.user_id,
    )
    .await?;
    match row {
        Some(row) => Ok(Json(settings_from_row(&row)?)),
        None => Ok(Json(PrivacySettings::DEFAULT)),
    }
}

/// Replace the caller's privacy settings.
///
/// `PUT /api/v1/gdpr/privacy-settings`: replaces the caller's settings
/// (every flag required, booleans only: 422 naming the field otherwise).
#[utoipa::path(put, path = "/api/v1/gdpr/privacy-settings", tag = "gdpr",
    request_body = PrivacySettingsInput,
    responses((status = 200, body = PrivacySettings), (status = 401), (status = 422),
        (status = 503)),
    security(("bearer" = [])))]
pub async fn put_privacy_settings(
    State(state): State<AppState>,
    principal: Principal,
    origin: Origin,
    JsonBody(input): JsonBody<PrivacySettingsInput>,
) -> Result<Json<PrivacySettings>, ApiError> {
    let db = state.db()?;
    let at = now();
    let mut tx = db.write_tx(&principal.org_id).await?;
    account_email(&mut tx, &principal).await?;
    let flags = [
        input.marketing_emails,
        input.call_recording_consent,
        input.data_processing_consent,
        input.analytics,
    ];
    let mut query = sqlx::query(
        "INSERT INTO privacy_settings (user_id, organization_id, marketing_emails, \
         call_recording_consent, data_processing_consent, analytics, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id) DO UPDATE SET \
         marketing_emails = excluded.marketing_emails, \
         call_recording_consent = excluded.call_recording_consent, \
         data_processing_consent = excluded.data_processing_consent, \
         analytics = excluded.analytics, updated_at = excluded.updated_at",
    )
    .bind(&principal.user_id)
    .bind(&principal.org_id);
    for flag in flags {
        query = query.bind(i64::from(flag));
    }
    query.bind(at).execute(&mut *tx).await?;
    let settings = PrivacySettings {
        marketing_emails: input.marketing_emails,
        call_recording_consent: input.call_recording_consent,
        data_processing_consent: input.data_processing_consent,
        analytics: input.analytics,
        updated_at: Some(at),
    };
    let mut event = event(&principal, "gdpr.privacy_settings_updated", json!(settings));
    event.target_type = "privacy_settings";
    audit::record(&mut tx, event, &origin, at).await?;
    tx.commit().await?;
    Ok(Json(settings))
}

/// The export's parts that are lists, in order, and their queries (`$1`
/// the organization, `$2` the user).
const LISTS: [(&str, &str); 4] = [
    (
        "call_sessions",
        "SELECT * FROM call_sessions WHERE organization_id = $1 AND user_id = $2 \
         ORDER BY started_at, id",
    ),
    (
        "calls",
        "SELECT c.* FROM calls c JOIN call_sessions s ON s.id = c.session_id \
         WHERE c.organization_id = $1 AND s.organization_id = $1 AND s.user_id = $2 \
         ORDER BY c.started_at, c.id",
    ),
    (
        "dispositions",
        "SELECT * FROM call_dispositions WHERE organization_id = $1 AND updated_by = $2 \
         ORDER BY updated_at, call_id",
    ),
    (
        "audit_events",
        "SELECT * FROM audit_events WHERE organization_id = $1 \
         AND (actor_id = $2 OR target_id = $2) \
         ORDER BY created_at, id",
    ),
];

/// The single objects of the export and their queries (`$1` the
/// organization, `$2` the user); a missing row is null (privacy settings:
/// the defaults).
const OBJECTS: [(&str, &str); 4] = [
    (
        "account",
        "SELECT id, email, full_name, role, created_at FROM users \
         WHERE organization_id = $1 AND id = $2",
    ),
    (
        "organization",
        "SELECT o.id, o.name, o.slug, u.role FROM organizations o \
         JOIN users u ON u.organization_id = o.id WHERE o.id = $1 AND u.id = $2",
    ),
    ("privacy_settings", SETTINGS),
    (
        "scheduled_erasure",
        "SELECT requested_at, erase_after FROM erasure_requests \
         WHERE organization_id = $1 AND user_id = $2",
    ),
];

/// Columns whose text is JSON, exported as JSON.
const JSON_COLUMNS: [&str; 2] = ["custom_fields", "details"];

/// Flags of `privacy_settings` (0/1 in the database), exported as booleans.
const FLAG_COLUMNS: [&str; 4] = [
    "marketing_emails",
    "call_recording_consent",
    "data_processing_consent",
    "analytics",
];

/// A row as a JSON object, column by column: integers, text, or null.
fn row_json(row: &AnyRow) -> Value {
    use sqlx::Column;
    let mut object = serde_json::Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let value = if let Ok(number) = row.try_get::<Option<i64>, _>(i) {
            match number {
                Some(n) if FLAG_COLUMNS.contains(&name) => Value::Bool(n != 0),
                Some(n) => Value::from(n),
                None => Value::Null,
            }
        } else if let Ok(text) = row.try_get::<Option<String>, _>(i) {
            match text {
                Some(text) if JSON_COLUMNS.contains(&name) => {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                }
                Some(text) => Value::String(text),
                None => Value::Null,
            }
        } else {
            Value::Null
        };
        object.insert(name.to_owned(), value);
    }
    Value::Object(object)
}

/// Export every row about the caller.
///
/// `GET /api/v1/gdpr/export`: every row about the caller, as one JSON
/// document streamed as it is read (`Content-Disposition: attachment`):
/// account (never the password hash), organization membership, privacy
/// settings, a scheduled erasure, their call sessions and those sessions'
/// calls, the dispositions they made, and their audit events. Read in one
/// transaction, so the parts agree; the export itself is audit-logged first.
#[utoipa::path(get, path = "/api/v1/gdpr/export", tag = "gdpr",
    responses((status = 200, description = "The export", content_type = "application/json",
        body = Object,
        headers(("content-disposition" = String, description = "attachment; filename=..."))),
        (status = 401), (status = 503)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    origin: Origin,
) -> Result<Response, ApiError> {
    let db = state.db()?;
    let at = now();
    let mut tx = db.write_tx(&principal.org_id).await?;
    account_email(&mut tx, &principal).await?;
    audit::record(
        &mut tx,
        event(&principal, "gdpr.export", json!({})),
        &origin,
        at,
    )
    .await?;
    tx.commit().await?;
    // Latest: the export includes what the caller just wrote.
    let body = stream_export(db.clone(), &principal, at).await?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let file = format!(
        "attachment; filename=\"operator-demo-export-{}.json\"",
        &rfc3339(at)[..10]
    );
    if let Ok(value) = HeaderValue::from_str(&file) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The caller's export, read in one [`Freshness::Latest`] transaction by a
/// task of its own and streamed as it is read. Answers once the
/// transaction has begun, so that a database that cannot begin it still
/// gets its 503; a failure after that cuts the body.
async fn stream_export(db: Db, principal: &Principal, at: i64) -> Result<Body, ApiError> {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let (began, has_begun) = oneshot::channel::<()>();
    let (org, user) = (principal.org_id.clone(), principal.user_id.clone());
    let task = tokio::spawn(async move {
        // Taken by the read once its transaction is open.
        let began = Mutex::new(Some(began));
        let outcome = db
            .read(&org, Freshness::Latest, |tx| {
                if let Some(began) = began.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    let _ = began.send(());
                }
                let (org, user, sender) = (org.clone(), user.clone(), sender.clone());
                Box::pin(async move { Ok(write_export(tx, &org, &user, at, &sender).await) })
            })
            .await;
        let err = match outcome {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(err)) => err,
            // Not begun: the handler answers with it.
            Err(err)
                if began
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some() =>
            {
                return Err(err);
            }
            Err(err) => ExportError::Db(err),
        };
        match err {
            ExportError::Gone => tracing::debug!("the client left during its export"),
            err @ ExportError::Db(_) => {
                tracing::error!(error = %err, "the export failed while streaming");
                // The client sees a cut body, never a valid-looking document.
                let _ = sender
                    .send(Err(std::io::Error::other("the export failed")))
                    .await;
            }
        }
        Ok(())
    });
    if has_begun.await.is_err() {
        return Err(match task.await {
            Ok(Err(err)) => err.into(),
            _ => ApiError::Internal("the export did not begin".into()),
        });
    }
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok(Body::from_stream(stream))
}

/// Why a streamed export stopped.
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("the client went away")]
    Gone,
}

/// The most bytes held before a chunk is sent.
const CHUNK: usize = 32 * 1024;

async fn write_export(
    tx: &mut Transaction<'static, Any>,
    org: &str,
    user: &str,
    at: i64,
    out: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ExportError> {
    use futures_util::TryStreamExt;

    let mut buffer = format!(
        "{{\"format\":\"operator-demo.gdpr-export.v1\",\"exported_at\":{at},\"user_id\":{}",
        json!(user)
    );
    for (name, sql) in OBJECTS {
        let row = sqlx::query(sql)
            .bind(org)
            .bind(user)
            .fetch_optional(&mut **tx)
            .await?;
        let value = match (row, name) {
            (Some(row), _) => row_json(&row),
            (None, "privacy_settings") => json!(PrivacySettings::DEFAULT),
            (None, _) => Value::Null,
        };
        buffer.push_str(&format!(",{}:{value}", json!(name)));
    }
    for (name, sql) in LISTS {
        buffer.push_str(&format!(",{}:[", json!(name)));
        let mut first = true;
        let mut rows = sqlx::query(sql).bind(org).bind(user).fetch(&mut **tx);
        while let Some(row) = rows.try_next().await? {
            if !first {
                buffer.push(',');
            }
            first = false;
            buffer.push_str(&row_json(&row).to_string());
            if buffer.len() >= CHUNK {
                send(out, &mut buffer).await?;
            }
        }
        buffer.push(']');
    }
    buffer.push_str("}\n");
    send(out, &mut buffer).await
}

async fn send(
    out: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: &mut String,
) -> Result<(), ExportError> {
    let chunk = Bytes::from(std::mem::take(buffer));
    out.send(Ok(chunk)).await.map_err(|_| ExportError::Gone)
}
