//! `/api/v1/sessions`: call sessions, each placing one telephony call
//! through the telephony manager.

use super::{PlacedCall, parse_id, prelude::*, quota};
use crate::db::{
    Db,
    sessions::{self, CallEnd, NewSession},
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
    /// The number to call (E.164: `+`, then 8 to 15 digits, the first not
    /// 0); a test number when omitted.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$", example = "+15005550006")]
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

/// The columns of a session and its call, as `from_row` reads them, from
/// `call_sessions s LEFT JOIN calls c`.
macro_rules! columns {
    () => {
        "s.id, s.provider_type, s.telephony_provider, s.status, s.campaign_id, s.user_id, \
         s.started_at, s.ended_at, c.id AS call_id, c.provider, c.provider_call_id, \
         c.from_number, c.to_number, c.started_at AS call_started_at, \
         c.ended_at AS call_ended_at, c.duration_seconds"
    };
}

macro_rules! from_sessions {
    () => {
        " FROM call_sessions s LEFT JOIN calls c \
         ON c.session_id = s.id AND c.organization_id = s.organization_id \
         WHERE s.organization_id = $1"
    };
}

/// One session of the organization.
const ONE: &str = concat!("SELECT ", columns!(), from_sessions!(), " AND s.id = $2");

/// A page and the total (see `rows::list_page`), newest first.
const LIST: &str = concat!(
    "SELECT n.total, p.* FROM \
     (SELECT COUNT(*) AS total FROM call_sessions WHERE organization_id = $1) n \
     LEFT JOIN (SELECT ",
    columns!(),
    from_sessions!(),
    " ORDER BY s.id DESC LIMIT $2 OFFSET $3) p ON TRUE ORDER BY p.id DESC"
);

fn from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    from_rows(row, Some(row))
}

/// A session from its columns in `session` and its call's (named as in
/// `columns!`) in `call`: one joined row, or the rows two `UPDATE ...
/// RETURNING` gave.
fn from_rows(session: &AnyRow, call: Option<&AnyRow>) -> Result<Session, sqlx::Error> {
    let call_id: Option<String> = match call {
        Some(row) => row.try_get("call_id")?,
        None => None,
    };
    let call = match (call_id, call) {
        (Some(id), Some(row)) => Some(Call {
            id,
            provider: row.try_get("provider")?,
            provider_call_id: row.try_get("provider_call_id")?,
            from: row.try_get("from_number")?,
            to: row.try_get("to_number")?,
            started_at: row.try_get("call_started_at")?,
            ended_at: row.try_get("call_ended_at")?,
            duration_seconds: row.try_get("duration_seconds")?,
        }),
        _ => None,
    };
    Ok(Session {
        id: session.try_get("id")?,
        provider_type: session.try_get("provider_type")?,
        telephony_provider: session.try_get("telephony_provider")?,
        status: session.try_get("status")?,
        campaign_id: session.try_get("campaign_id")?,
        user_id: session.try_get("user_id")?,
        started_at: session.try_get("started_at")?,
        ended_at: session.try_get("ended_at")?,
        call,
    })
}

/// Start a call session.
///
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
    let new = validate_input(&input, &principal, state.telephony().from_number())?;
    let db = state.db()?;
    reserve(db, &new).await?;
    // Placed once the reservation is committed: no lock is held while a
    // provider answers.
    let placed = match state
        .telephony()
        .start_call(input.telephony_provider, &new.to)
        .await
    {
        Ok(placed) => placed,
        Err(failure) => {
            sessions::mark_failed(db, &new).await?;
            return Err(failure);
        }
    };
    let end = sessions::record_provider(
        db,
        &new,
        &placed.provider,
        placed.provider_call_id.as_deref(),
    )
    .await?
    .ok_or(ApiError::NotFound("session"))?;
    Ok((StatusCode::CREATED, Json(started(new, placed, end))).into_response())
}

/// The request's session, checked: 422 naming the field otherwise.
fn validate_input(
    input: &SessionInput,
    principal: &Principal,
    from: &str,
) -> Result<NewSession, ApiError> {
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
    Ok(NewSession {
        id: new_id(),
        call_id: new_id(),
        org: principal.org_id.clone(),
        user: principal.user_id.clone(),
        campaign_id,
        provider_type,
        telephony_provider: input.telephony_provider.as_str(),
        from: from.to_owned(),
        to,
        at: now(),
    })
}

/// Reserves the call inside the quotas, in one transaction: the campaign
/// must be the organization's; the session and its call are stored, and
/// the month's calls and the active calls must stay within their limits
/// (429 otherwise, and nothing is kept).
async fn reserve(db: &Db, new: &NewSession) -> Result<(), ApiError> {
    let mut tx = db.write_tx(&new.org).await?;
    if let Some(campaign_id) = &new.campaign_id
        && !sessions::campaign_exists(&mut tx, &new.org, campaign_id).await?
    {
        return Err(ApiError::invalid("campaign_id", "no such campaign"));
    }
    quota::store_within_quotas(&mut tx, new).await?;
    tx.commit().await?;
    Ok(())
}

/// The session just started, as `POST` answers it: all it needs that the
/// handler did not know already is how the call stands (`end` may have
/// come first).
fn started(new: NewSession, placed: PlacedCall, end: CallEnd) -> Session {
    Session {
        id: new.id,
        provider_type: new.provider_type,
        telephony_provider: new.telephony_provider.to_owned(),
        status: if end.ended_at.is_some() {
            "ended"
        } else {
            "active"
        }
        .to_owned(),
        campaign_id: new.campaign_id,
        user_id: new.user,
        started_at: new.at,
        ended_at: end.ended_at,
        call: Some(Call {
            id: new.call_id,
            provider: placed.provider,
            provider_call_id: placed.provider_call_id,
            from: new.from,
            to: new.to,
            started_at: new.at,
            ended_at: end.ended_at,
            duration_seconds: end.duration_seconds,
        }),
    }
}

/// List the organization's call sessions.
///
/// `GET /api/v1/sessions`: a page of the organization's sessions, newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(Page),
    responses((status = 200, body = List<Session>), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    page: Page,
) -> Result<Json<List<Session>>, ApiError> {
    rows::list_page(&state, &principal.org_id, LIST, page, from_row).await
}

/// Read a call session.
///
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
    // Latest: a session is read right after it changes.
    let org = &principal.org_id;
    rows::read_owned(
        &state,
        org,
        Freshness::Latest,
        ONE,
        &id,
        "session",
        from_row,
    )
    .await
}

/// End a call session.
///
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
         WHERE organization_id = $1 AND id = $2 AND status = 'active' \
         RETURNING id, provider_type, telephony_provider, status, campaign_id, user_id, \
         started_at, ended_at",
    )
    .bind(org)
    .bind(&id)
    .bind(at)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(ended) = ended else {
        // Not active: ended or failed already (nothing changes), or not
        // the organization's.
        let row = sqlx::query(ONE)
            .bind(org)
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(Json(from_row(&row.ok_or(ApiError::NotFound("session"))?)?));
    };
    let call = sqlx::query(
        "UPDATE calls SET ended_at = $3, duration_seconds = $3 - started_at \
         WHERE organization_id = $1 AND session_id = $2 \
         RETURNING id AS call_id, provider, provider_call_id, from_number, to_number, \
         started_at AS call_started_at, ended_at AS call_ended_at, duration_seconds",
    )
    .bind(org)
    .bind(&id)
    .bind(at)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let session = from_rows(&ended, call.as_ref())?;
    if let Some(call) = &session.call
        && let Some(provider_call_id) = &call.provider_call_id
    {
        let seconds = call.duration_seconds.unwrap_or(0);
        let duration = std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        // The session is over in our books either way; a provider that
        // cannot be told is logged, and its own timeout ends the call.
        if let Err(reason) = state
            .telephony()
            .end_call(&call.provider, provider_call_id, duration)
            .await
        {
            let provider = &call.provider;
            tracing::warn!(%provider, %reason, "could not end the call at the provider");
        }
    }
    Ok(Json(session))
}
