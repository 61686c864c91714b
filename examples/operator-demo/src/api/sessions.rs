//! `/api/v1/sessions`: call sessions, each placing one telephony call
//! through the telephony manager.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use sqlx::{Row, any::AnyRow};
use utoipa::ToSchema;

use super::{ApiError, Id, JsonBody, List, Page, parse_id, quota, validate};
use crate::{
    app::AppState,
    auth::Principal,
    db::{new_id, now},
};

/// The number called when the request names none (a test number).
pub const DEFAULT_TO: &str = "+15005550006";

/// The telephony call of a session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Call {
    /// Its id (UUID): the one `PUT /api/v1/calls/{id}/disposition` takes.
    #[schema(format = Uuid)]
    pub id: String,
    /// The provider that placed it (after any failover).
    pub provider: String,
    /// The provider's id for it.
    pub provider_call_id: Option<String>,
    /// Calling number (E.164).
    pub from: String,
    /// Called number (E.164).
    pub to: String,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// When it ended (Unix seconds).
    pub ended_at: Option<i64>,
    /// How long it lasted, in seconds.
    pub duration_seconds: Option<i64>,
}

/// A call session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Session {
    /// Its id (UUID).
    #[schema(format = Uuid)]
    pub id: String,
    /// The voice provider asked for.
    pub provider_type: String,
    /// The telephony provider asked for.
    pub telephony_provider: String,
    /// `active`, `ended` or `failed`.
    pub status: String,
    /// The campaign it belongs to, if any.
    pub campaign_id: Option<String>,
    /// The user who started it.
    pub user_id: String,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// When it ended (Unix seconds).
    pub ended_at: Option<i64>,
    /// Its telephony call.
    pub call: Option<Call>,
}

/// What a client sends to start a session.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// The voice provider: 1 to 32 of `a-z`, `0-9`, `_`, `-`.
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = "^[a-z0-9_-]{1,32}$",
        example = "twilio"
    )]
    pub provider_type: String,
    /// `twilio`, `telnyx` or `simulated`.
    #[schema(example = "twilio")]
    pub telephony_provider: TelephonyProvider,
    /// The number to call (E.164); a test number when omitted.
    #[schema(example = "+15005550006")]
    pub to: Option<String>,
    /// A campaign of the same organization.
    #[schema(format = Uuid)]
    pub campaign_id: Option<String>,
}

/// A telephony provider a session may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TelephonyProvider {
    /// Twilio.
    Twilio,
    /// Telnyx.
    Telnyx,
    /// The built-in simulated provider.
    Simulated,
}

impl TelephonyProvider {
    /// As stored and as the telephony manager names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Twilio => "twilio",
            Self::Telnyx => "telnyx",
            Self::Simulated => "simulated",
        }
    }
}

const SELECT: &str = "SELECT s.id, s.provider_type, s.telephony_provider, s.status, s.campaign_id, \
     s.user_id, s.started_at, s.ended_at, c.id AS call_id, c.provider, c.provider_call_id, \
     c.from_number, c.to_number, c.started_at AS call_started_at, c.ended_at AS call_ended_at, \
     c.duration_seconds FROM call_sessions s LEFT JOIN calls c \
     ON c.session_id = s.id AND c.organization_id = s.organization_id \
     WHERE s.organization_id = $1";

fn from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    let call_id: Option<String> = row.try_get("call_id")?;
    let call = match call_id {
        Some(id) => Some(Call {
            id,
            provider: row.try_get("provider")?,
            provider_call_id: row.try_get("provider_call_id")?,
            from: row.try_get("from_number")?,
            to: row.try_get("to_number")?,
            started_at: row.try_get("call_started_at")?,
            ended_at: row.try_get("call_ended_at")?,
            duration_seconds: row.try_get("duration_seconds")?,
        }),
        None => None,
    };
    Ok(Session {
        id: row.try_get("id")?,
        provider_type: row.try_get("provider_type")?,
        telephony_provider: row.try_get("telephony_provider")?,
        status: row.try_get("status")?,
        campaign_id: row.try_get("campaign_id")?,
        user_id: row.try_get("user_id")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        call,
    })
}

async fn fetch(state: &AppState, org: &str, id: &str) -> Result<Session, ApiError> {
    let db = state.db()?;
    // Read from the primary: a session is read right after it changes.
    let mut tx = db.write_tx(org).await?;
    let sql = sqlx::AssertSqlSafe(format!("{SELECT} AND s.id = $2"));
    let row = sqlx::query(sql)
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    from_row(&row.ok_or(ApiError::NotFound("session"))?).map_err(ApiError::from)
}

/// `POST /api/v1/sessions`: starts a session and its call; 201 with the
/// session. 429 when the organization's `max_concurrent_calls` or
/// `max_calls_per_month` is reached; 503 when no provider could place it.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = SessionInput,
    responses((status = 201, body = Session), (status = 401), (status = 404), (status = 422),
        (status = 429), (status = 503)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(input): JsonBody<SessionInput>,
) -> Result<Response, ApiError> {
    let provider_type = input.provider_type.trim().to_owned();
    if provider_type.is_empty()
        || provider_type.len() > 32
        || !provider_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(ApiError::invalid(
            "provider_type",
            "expected 1 to 32 of a-z, 0-9, _ and -",
        ));
    }
    let to = match &input.to {
        Some(to) => validate::phone("to", to)?,
        None => DEFAULT_TO.to_owned(),
    };
    let campaign_id = input
        .campaign_id
        .as_deref()
        .map(|id| parse_id("campaign_id", id))
        .transpose()?;
    let requested = input.telephony_provider.as_str();
    let db = state.db()?;
    let org = &principal.org_id;
    let (session_id, call_id, at) = (new_id(), new_id(), now());

    // Reserve the call inside the quota check; place it once committed, so
    // no lock is held while a provider answers.
    let mut tx = db.write_tx(org).await?;
    let limits = quota::lock(&mut tx, org, "calls").await?;
    quota::check_calls(&mut tx, org, &limits, quota::month_start(at)).await?;
    if let Some(campaign_id) = &campaign_id {
        let found: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM campaigns WHERE organization_id = $1 AND id = $2",
        )
        .bind(org)
        .bind(campaign_id)
        .fetch_one(&mut *tx)
        .await?;
        if found == 0 {
            return Err(ApiError::invalid("campaign_id", "no such campaign"));
        }
    }
    sqlx::query(
        "INSERT INTO call_sessions (id, organization_id, user_id, campaign_id, provider_type, \
         telephony_provider, status, started_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
    )
    .bind(&session_id)
    .bind(org)
    .bind(&principal.user_id)
    .bind(&campaign_id)
    .bind(&provider_type)
    .bind(requested)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO calls (id, organization_id, session_id, provider, from_number, to_number, \
         started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&call_id)
    .bind(org)
    .bind(&session_id)
    .bind(requested)
    .bind(state.telephony().from_number())
    .bind(&to)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    match state
        .telephony()
        .start_call(input.telephony_provider, &to)
        .await
    {
        Ok(placed) => {
            let mut tx = db.write_tx(org).await?;
            sqlx::query(
                "UPDATE calls SET provider = $3, provider_call_id = $4 \
                 WHERE organization_id = $1 AND id = $2",
            )
            .bind(org)
            .bind(&call_id)
            .bind(&placed.provider)
            .bind(&placed.provider_call_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Err(failure) => {
            let mut tx = db.write_tx(org).await?;
            sqlx::query(
                "UPDATE call_sessions SET status = 'failed', ended_at = $3 \
                 WHERE organization_id = $1 AND id = $2",
            )
            .bind(org)
            .bind(&session_id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Err(failure);
        }
    }
    let session = fetch(&state, org, &session_id).await?;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

/// `GET /api/v1/sessions`: a page of the organization's sessions, newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(Page),
    responses((status = 200, body = List<Session>), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    page: Page,
) -> Result<Json<List<Session>>, ApiError> {
    let db = state.db()?;
    let org = &principal.org_id;
    let mut tx = db.read_tx(org).await?;
    let sql = sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY s.id DESC LIMIT $2 OFFSET $3"));
    let rows = sqlx::query(sql)
        .bind(org)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *tx)
        .await?;
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM call_sessions WHERE organization_id = $1")
            .bind(org)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Json(List::new(items, page, total)))
}

/// `GET /api/v1/sessions/{id}`: one session with its call.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Session), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(fetch(&state, &principal.org_id, &id).await?))
}

/// `POST /api/v1/sessions/{id}/end`: ends the session and hangs up its call;
/// ending an ended session changes nothing.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/end", tag = "sessions",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Session), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn end(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Json<Session>, ApiError> {
    let db = state.db()?;
    let org = &principal.org_id;
    let at = now();
    let mut tx = db.write_tx(org).await?;
    let ended = sqlx::query(
        "UPDATE call_sessions SET status = 'ended', ended_at = $3 \
         WHERE organization_id = $1 AND id = $2 AND status = 'active'",
    )
    .bind(org)
    .bind(&id)
    .bind(at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let mut hang_up = None;
    if ended == 1 {
        let row = sqlx::query(
            "UPDATE calls SET ended_at = $3, duration_seconds = $3 - started_at \
             WHERE organization_id = $1 AND session_id = $2 RETURNING provider, provider_call_id, duration_seconds",
        )
        .bind(org)
        .bind(&id)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            let provider: String = row.try_get(0)?;
            let call: Option<String> = row.try_get(1)?;
            let seconds: i64 = row.try_get(2)?;
            hang_up = call.map(|call| (provider, call, seconds));
        }
    }
    tx.commit().await?;
    if let Some((provider, call, seconds)) = hang_up {
        let duration = std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        // The session is over in our books either way; a provider that
        // cannot be told is logged, and its own timeout ends the call.
        if let Err(reason) = state.telephony().end_call(&provider, &call, duration).await {
            tracing::warn!(%provider, %reason, "could not end the call at the provider");
        }
    }
    Ok(Json(fetch(&state, org, &id).await?))
}
