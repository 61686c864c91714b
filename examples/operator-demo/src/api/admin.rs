//! `/api/v1/admin/...`: what an organization's admins see and do.

use super::{prelude::*, quota};
use crate::{
    auth::{Role, password},
    gdpr::audit::{self, NewEvent, Origin},
};

/// What the organization uses now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    /// Calls started this calendar month (UTC).
    pub calls_this_month: i64,
    /// Calls in progress.
    pub concurrent_calls: i64,
    /// Users.
    pub users: i64,
    /// Campaigns.
    pub campaigns: i64,
}

/// The organization's row, its quotas and its usage, in one statement: the
/// month's calls come from the organization's counter row (none yet, or
/// one of an earlier month: 0).
const USAGE: &str = "SELECT id, name, slug, max_calls_per_month, max_concurrent_calls, max_users, \
         max_campaigns, \
         (SELECT COUNT(*) FROM users WHERE organization_id = $1 AND erased_at IS NULL) AS users, \
         (SELECT COUNT(*) FROM campaigns WHERE organization_id = $1) AS campaigns, \
         (SELECT COUNT(*) FROM call_sessions WHERE organization_id = $1 AND status = 'active') \
           AS concurrent_calls, \
         COALESCE((SELECT CASE WHEN month >= $2 THEN calls ELSE 0 END FROM call_usage \
           WHERE organization_id = $1), 0) AS calls_this_month \
         FROM organizations WHERE id = $1";

/// `GET /api/v1/admin/organization`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Organization {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its short name.
    pub slug: String,
    /// Its limits.
    pub quotas: quota::Limits,
    /// What it uses of them.
    pub usage: Usage,
}

pub(super) fn require_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the organization's admins may do this",
        ))
    }
}

/// Show the organization, its quotas and usage.
///
/// `GET /api/v1/admin/organization`: the organization, its quotas and its
/// usage; 403 for agents.
#[utoipa::path(get, path = "/api/v1/admin/organization", tag = "admin",
    responses((status = 200, body = Organization), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn organization(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Organization>, ApiError> {
    require_admin(&principal)?;
    let db = state.db()?;
    let org = &principal.org_id;
    // Through `Db::read`: retried once on the primary when the replica
    // fails mid-query or cancels it for recovery.
    let (owned, month) = (org.to_owned(), quota::month_start(now()));
    let row = db
        .read(org, Freshness::MayLag, |tx| {
            let org = owned.clone();
            Box::pin(async move {
                sqlx::query(USAGE)
                    .bind(org)
                    .bind(month)
                    .fetch_optional(&mut **tx)
                    .await
            })
        })
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    Ok(Json(Organization {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        quotas: quota::Limits {
            max_calls_per_month: row.try_get("max_calls_per_month")?,
            max_concurrent_calls: row.try_get("max_concurrent_calls")?,
            max_users: row.try_get("max_users")?,
            max_campaigns: row.try_get("max_campaigns")?,
        },
        usage: Usage {
            calls_this_month: row.try_get("calls_this_month")?,
            concurrent_calls: row.try_get("concurrent_calls")?,
            users: row.try_get("users")?,
            campaigns: row.try_get("campaigns")?,
        },
    }))
}

/// A new user of the organization.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// Unique across the service.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 1 to 200 characters once trimmed, not blank, no control characters
    /// other than tab and newline.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*$"
    )]
    pub full_name: String,
    /// 8 to 1024 bytes.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// `admin` or `agent`.
    #[schema(value_type = String, example = "agent")]
    pub role: Role,
}

/// A user, without anything secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    /// Its id.
    pub id: String,
    /// Its email.
    pub email: String,
    /// Its name.
    pub full_name: String,
    /// `admin` or `agent`.
    #[schema(value_type = String)]
    pub role: Role,
    /// When it was created (Unix seconds).
    pub created_at: i64,
}

/// Add a user to the organization.
///
/// `POST /api/v1/admin/users`: adds a user to the organization (admins
/// only); 403 `max_users` at the limit, 409 when a user of this
/// organization has the email.
///
/// An email of another organization's user gets the answer a new one gets
/// (201 and a user) and nothing is written: a 409 there would tell any admin
/// which emails have accounts elsewhere. The price: that "user" is in no
/// list and cannot log in, which the admin can notice (as its owner notices
/// nothing); docs/configuration.md says so.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = UserInput,
    responses((status = 201, body = User), (status = 401), (status = 403), (status = 409),
        (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    origin: Origin,
    JsonBody(input): JsonBody<UserInput>,
) -> Result<Response, ApiError> {
    require_admin(&principal)?;
    let email = validate::email("email", &input.email)?;
    let full_name = validate::text("full_name", &input.full_name, 1, 200)?;
    if input.password.len() < 8 || input.password.len() > password::MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid("password", "must be 8 to 1024 bytes"));
    }
    // Hashed before the transaction: the write lock is not held for it.
    let hash = state
        .passwords()
        .hash(input.password)
        .await?
        .map_err(|err| ApiError::Internal(err.to_string()))?;
    let db = state.db()?;
    let org = &principal.org_id;
    let user = User {
        id: new_id(),
        email,
        full_name,
        role: input.role,
        created_at: now(),
    };
    let mut tx = db.write_tx(org).await?;
    let limits = quota::lock(&mut tx, org, "users").await?;
    quota::check_users(&mut tx, org, &limits).await?;
    let owner: Option<String> =
        sqlx::query_scalar("SELECT organization_id FROM user_logins WHERE email = $1")
            .bind(&user.email)
            .fetch_optional(&mut *tx)
            .await?;
    match owner {
        Some(owner) if owner == *org => {
            return Err(ApiError::Conflict(
                "a user of this organization has this email".into(),
            ));
        }
        Some(_) => {
            tracing::info!(
                organization = %org,
                "a new user's email belongs to another organization: answered as created, nothing written"
            );
            return Ok((StatusCode::CREATED, Json(user)).into_response());
        }
        None => {}
    }
    sqlx::query(
        "INSERT INTO users (id, organization_id, email, full_name, password_hash, role, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&user.id)
    .bind(org)
    .bind(&user.email)
    .bind(&user.full_name)
    .bind(&hash)
    .bind(user.role.as_str())
    .bind(user.created_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO user_logins (email, user_id, organization_id) VALUES ($1, $2, $3)")
        .bind(&user.email)
        .bind(&user.id)
        .bind(org)
        .execute(&mut *tx)
        .await?;
    let event = NewEvent {
        org_id: org,
        actor_id: Some(&principal.user_id),
        action: "user.create",
        target_type: "user",
        target_id: Some(&user.id),
        details: serde_json::json!({ "role": user.role.as_str() }),
    };
    audit::record(&mut tx, event, &origin, user.created_at).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// A scheduled erasure, as admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingErasure {
    /// When the user asked (Unix seconds).
    pub requested_at: i64,
    /// When the account is erased unless the user cancels (Unix seconds).
    pub erase_after: i64,
}

/// A user as admins see them: with a pending erasure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserEntry {
    /// Its id.
    pub id: String,
    /// Its email.
    pub email: String,
    /// Its name.
    pub full_name: String,
    /// `admin` or `agent`.
    #[schema(value_type = String)]
    pub role: Role,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// The erasure the user asked for, while its grace period runs.
    pub pending_erasure: Option<PendingErasure>,
}

/// The organization's users, erased ones excepted, with their pending
/// erasures (see `rows::list_page` for the form).
const USERS: &str = "SELECT n.total, p.* FROM \
     (SELECT COUNT(*) AS total FROM users WHERE organization_id = $1 AND erased_at IS NULL) n \
     LEFT JOIN (SELECT u.id, u.email, u.full_name, u.role, u.created_at, e.requested_at, \
       e.erase_after FROM users u LEFT JOIN erasure_requests e ON e.user_id = u.id \
       WHERE u.organization_id = $1 AND u.erased_at IS NULL \
       ORDER BY u.id LIMIT $2 OFFSET $3) p ON TRUE \
     ORDER BY p.id";

fn user_entry(row: &AnyRow) -> Result<UserEntry, sqlx::Error> {
    let role: String = row.try_get("role")?;
    let requested_at: Option<i64> = row.try_get("requested_at")?;
    let erase_after: Option<i64> = row.try_get("erase_after")?;
    Ok(UserEntry {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        full_name: row.try_get("full_name")?,
        role: role
            .parse()
            .map_err(|err: String| sqlx::Error::Decode(err.into()))?,
        created_at: row.try_get("created_at")?,
        pending_erasure: requested_at
            .zip(erase_after)
            .map(|(requested_at, erase_after)| PendingErasure {
                requested_at,
                erase_after,
            }),
    })
}

/// List the organization's users.
///
/// `GET /api/v1/admin/users`: the organization's users, a page at a time,
/// each with the erasure they asked for while it is pending; 403 for agents.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", params(Page),
    responses((status = 200, body = List<UserEntry>), (status = 401), (status = 403),
        (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    page: Page,
) -> Result<Json<List<UserEntry>>, ApiError> {
    require_admin(&principal)?;
    rows::list_page(&state, &principal.org_id, USERS, page, user_entry).await
}
