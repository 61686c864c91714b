//! `/api/v1/sessions`: call sessions, each placing one telephony call
//! through the telephony manager.

use sqlx::{Any, Transaction};

use super::{PlacedCall, parse_id, prelude::*, quota};
use crate::db::{
    Backend, Db,
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
    quota::store_within_quotas(&mut tx, db.backend(), new).await?;
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

/// Ends the session `$2` of organization `$1` at `$3` if it is active:
/// the session's columns, as [`ONE`] names them.
macro_rules! end_session_sql {
    () => {
        "UPDATE call_sessions SET status = 'ended', ended_at = $3 \
         WHERE organization_id = $1 AND id = $2 AND status = 'active' \
         RETURNING id, provider_type, telephony_provider, status, campaign_id, user_id, \
         started_at, ended_at"
    };
}

/// Ends the call of session `$2` at `$3`, under a further condition:
/// the call's columns, as [`ONE`] names them.
macro_rules! end_call_sql {
    ($and:literal) => {
        concat!(
            "UPDATE calls SET ended_at = $3, duration_seconds = $3 - started_at \
             WHERE organization_id = $1 AND session_id = $2",
            $and,
            " RETURNING id AS call_id, provider, provider_call_id, from_number, to_number, \
             started_at AS call_started_at, ended_at AS call_ended_at, duration_seconds"
        )
    };
}

/// Ends the session and its call in one statement on Postgres (one round
/// trip instead of two); `None` when the session is not active.
async fn end_postgres(
    tx: &mut Transaction<'static, Any>,
    org: &str,
    id: &str,
    at: i64,
) -> Result<Option<Session>, ApiError> {
    let row = sqlx::query(concat!(
        "WITH s AS (",
        end_session_sql!(),
        "), c AS (",
        // The call ends only with its session: an ended one keeps its end.
        end_call_sql!(" AND EXISTS (SELECT 1 FROM s)"),
        ") SELECT s.*, c.* FROM s LEFT JOIN c ON true"
    ))
    .bind(org)
    .bind(id)
    .bind(at)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|row| from_rows(&row, Some(&row))).transpose()?)
}

/// Ends the session, then its call: SQLite has no data-modifying `WITH`.
async fn end_apart(
    tx: &mut Transaction<'static, Any>,
    org: &str,
    id: &str,
    at: i64,
) -> Result<Option<Session>, ApiError> {
    let Some(ended) = sqlx::query(end_session_sql!())
        .bind(org)
        .bind(id)
        .bind(at)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let call = sqlx::query(end_call_sql!(""))
        .bind(org)
        .bind(id)
        .bind(at)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(Some(from_rows(&ended, call.as_ref())?))
}

/// Ends session `id` of `org` at `at` if it is active, and its call; the
/// session as it stands, and whether this request ended it. 404 when the
/// organization has no such session.
async fn end_session(db: &Db, org: &str, id: &str, at: i64) -> Result<(Session, bool), ApiError> {
    let mut tx = db.write_tx(org).await?;
    let ended = match db.backend() {
        Backend::Postgres => end_postgres(&mut tx, org, id, at).await?,
        Backend::Sqlite => end_apart(&mut tx, org, id, at).await?,
    };
    if let Some(session) = ended {
        tx.commit().await?;
        return Ok((session, true));
    }
    // Not active: ended or failed already (nothing changes), or not the
    // organization's.
    let row = sqlx::query(ONE)
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    let row = row.ok_or(ApiError::NotFound("session"))?;
    Ok((from_row(&row)?, false))
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
    let (session, ended_now) = end_session(state.db()?, &principal.org_id, &id, now()).await?;
    if !ended_now {
        return Ok(Json(session));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::testing::{a_user, drop_pg, new_session, postgres, seeded},
        db::{DbConfig, seed::org_id},
    };

    /// A session started through the quotas, then ended twice: the second
    /// end, later, changes neither the session nor its call.
    async fn ending_twice_keeps_the_first_end(db: &Db) {
        let org = org_id(1);
        let new = new_session(&org, &a_user(db, &org).await, 1_000);
        let mut tx = db.write_tx(&org).await.unwrap();
        quota::store_within_quotas(&mut tx, db.backend(), &new)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let (first, ended_now) = end_session(db, &org, &new.id, 1_060).await.unwrap();
        assert!(ended_now);
        assert_eq!(first.status, "ended");
        assert_eq!(first.ended_at, Some(1_060));
        let call = first.call.as_ref().expect("the session's call");
        assert_eq!(call.id, new.call_id);
        assert_eq!(
            (call.ended_at, call.duration_seconds),
            (Some(1_060), Some(60))
        );

        let (again, ended_now) = end_session(db, &org, &new.id, 1_090).await.unwrap();
        assert!(!ended_now);
        assert_eq!(again.ended_at, Some(1_060));
        let call = again.call.as_ref().expect("the session's call");
        assert_eq!(
            (call.ended_at, call.duration_seconds),
            (Some(1_060), Some(60))
        );

        // Another organization's session is not found.
        let other = end_session(db, &org_id(2), &new.id, 1_090).await;
        assert!(matches!(other, Err(ApiError::NotFound("session"))));
    }

    #[tokio::test]
    async fn ending_twice_keeps_the_first_end_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = seeded(&DbConfig::embedded(dir.path()).url).await;
        ending_twice_keeps_the_first_end(&db).await;
        db.close().await;
    }

    #[tokio::test]
    async fn ending_twice_keeps_the_first_end_on_postgres() {
        let Some((db, url, name)) = postgres().await else {
            return;
        };
        ending_twice_keeps_the_first_end(&db).await;
        drop_pg(db, &url, &name).await;
    }
}
