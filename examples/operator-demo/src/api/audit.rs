//! `GET /api/v1/admin/audit`: the organization's audit log, for its admins.

use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};

use super::{admin::require_admin, prelude::*};
use crate::gdpr::audit::AuditEvent;

/// The latest time a filter accepts: 9999-12-31T23:59:59Z.
pub const MAX_TIME: i64 = 253_402_300_799;

/// `?action=&since=&until=` of the audit log; each wrong one is 422 naming
/// it.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only this action (`gdpr.export`, `user.create`, ...): 1 to 64 of
    /// `a-z 0-9 . _`.
    #[param(pattern = "^[a-z0-9._]{1,64}$", min_length = 1, max_length = 64)]
    pub action: Option<String>,
    /// Only events at or after this time (Unix seconds).
    #[param(minimum = 0, maximum = 253_402_300_799.0)]
    pub since: Option<i64>,
    /// Only events at or before this time (Unix seconds), not before `since`.
    #[param(minimum = 0, maximum = 253_402_300_799.0)]
    pub until: Option<i64>,
}

#[derive(Deserialize)]
struct RawFilter {
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

fn time(name: &'static str, value: Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .map(|value| match value.trim().parse::<i64>() {
            Ok(n) if (0..=MAX_TIME).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                name,
                format!("expected Unix seconds from 0 to {MAX_TIME}"),
            )),
        })
        .transpose()
}

impl<S: Send + Sync> FromRequestParts<S> for AuditFilter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) =
            Query::<RawFilter>::try_from_uri(&parts.uri).map_err(|err| ApiError::BadRequest {
                status: StatusCode::BAD_REQUEST,
                detail: err.body_text(),
            })?;
        if let Some(action) = &raw.action {
            let ok = (1..=64).contains(&action.len())
                && action.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_'
                });
            if !ok {
                return Err(ApiError::invalid(
                    "action",
                    "expected 1 to 64 of a-z, 0-9, '.' and '_'",
                ));
            }
        }
        let since = time("since", raw.since)?;
        let until = time("until", raw.until)?;
        if since.zip(until).is_some_and(|(since, until)| until < since) {
            return Err(ApiError::invalid("until", "must not be before since"));
        }
        Ok(Self {
            action: raw.action,
            since,
            until,
        })
    }
}

/// The page and its total (the form of `rows::list_page`), newest
/// first; `$1` organization, `$2`/`$3` the time range, `$4`/`$5` limit and
/// offset.
const PAGE: &str = "SELECT n.total, p.* FROM \
     (SELECT COUNT(*) AS total FROM audit_events WHERE organization_id = $1 \
       AND created_at >= $2 AND created_at <= $3) n \
     LEFT JOIN (SELECT id, organization_id, actor_id, action, target_type, target_id, \
       request_id, client_ip, details, created_at FROM audit_events \
       WHERE organization_id = $1 AND created_at >= $2 AND created_at <= $3 \
       ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5) p ON TRUE \
     ORDER BY p.created_at DESC, p.id DESC";

/// [`PAGE`] for one action (`$6`).
const PAGE_OF_ACTION: &str = "SELECT n.total, p.* FROM \
     (SELECT COUNT(*) AS total FROM audit_events WHERE organization_id = $1 \
       AND created_at >= $2 AND created_at <= $3 AND action = $6) n \
     LEFT JOIN (SELECT id, organization_id, actor_id, action, target_type, target_id, \
       request_id, client_ip, details, created_at FROM audit_events \
       WHERE organization_id = $1 AND created_at >= $2 AND created_at <= $3 AND action = $6 \
       ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5) p ON TRUE \
     ORDER BY p.created_at DESC, p.id DESC";

/// List the organization's audit events.
///
/// `GET /api/v1/admin/audit`: the organization's audit events, newest
/// first, a page at a time (at most 100), by action and time range; 403
/// for agents.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    params(Page, AuditFilter),
    responses((status = 200, body = List<AuditEvent>), (status = 400), (status = 401),
        (status = 403), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    page: Page,
    filter: AuditFilter,
) -> Result<Json<List<AuditEvent>>, ApiError> {
    require_admin(&principal)?;
    let db = state.db()?;
    let org = principal.org_id.clone();
    let rows = db
        .read(&principal.org_id, Freshness::MayLag, |tx| {
            let (org, filter) = (org.clone(), filter.clone());
            Box::pin(async move {
                let sql = if filter.action.is_some() {
                    PAGE_OF_ACTION
                } else {
                    PAGE
                };
                let mut query = sqlx::query(sql)
                    .bind(org)
                    .bind(filter.since.unwrap_or(0))
                    .bind(filter.until.unwrap_or(MAX_TIME))
                    .bind(page.limit)
                    .bind(page.offset);
                if let Some(action) = filter.action {
                    query = query.bind(action);
                }
                query.fetch_all(&mut **tx).await
            })
        })
        .await?;
    Ok(Json(rows::page_of(&rows, page, AuditEvent::from_row)?))
}
