//! `/api/v1/campaigns` (and the plan's `GET /campaigns`): call campaigns,
//! each with a language and the script the voice agent follows.

use sqlx::{Any, Transaction};

use super::{parse_id, prelude::*, quota};

/// A campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Campaign {
    /// Its id (UUID).
    #[schema(format = Uuid)]
    pub id: String,
    /// The company it calls for, if any.
    pub company_id: Option<String>,
    /// Its name.
    pub name: String,
    /// The language of its calls (`en`, `pt-BR`, ...).
    pub language: String,
    /// What the agent says.
    pub script: String,
    /// `draft`, `running`, `paused` or `completed`.
    pub status: String,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it last changed (Unix seconds).
    pub updated_at: i64,
}

/// What a client sends to create or replace a campaign.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// 1 to 200 characters once trimmed, not blank, no control characters
    /// other than tab and newline.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// A language tag such as `en` or `pt-BR`: 2 or 3 letters, then
    /// optionally `-` and 2 to 8 letters or digits.
    #[schema(
        min_length = 2,
        max_length = 12,
        pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
        example = "en"
    )]
    pub language: String,
    /// 1 to 20,000 characters once trimmed, not blank, no control
    /// characters other than tab and newline.
    #[schema(
        min_length = 1,
        max_length = 20000,
        pattern = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*$"
    )]
    pub script: String,
    /// A company of the same organization.
    #[schema(format = Uuid)]
    pub company_id: Option<String>,
}

struct Valid {
    name: String,
    language: String,
    script: String,
    company_id: Option<String>,
}

fn validate_input(input: CampaignInput) -> Result<Valid, ApiError> {
    Ok(Valid {
        name: validate::text("name", &input.name, 1, 200)?,
        language: validate::language("language", &input.language)?,
        script: validate::text("script", &input.script, 1, 20_000)?,
        company_id: input
            .company_id
            .map(|id| parse_id("company_id", &id))
            .transpose()?,
    })
}

/// 422 `company_id` unless the company is the organization's.
async fn check_company(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    company_id: Option<&str>,
) -> Result<(), ApiError> {
    let Some(company_id) = company_id else {
        return Ok(());
    };
    let found: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM companies WHERE organization_id = $1 AND id = $2")
            .bind(org_id)
            .bind(company_id)
            .fetch_one(&mut **tx)
            .await?;
    if found == 0 {
        return Err(ApiError::invalid("company_id", "no such company"));
    }
    Ok(())
}

/// The columns of a campaign, as `from_row` reads them.
macro_rules! columns {
    () => {
        "id, company_id, name, language, script, status, created_at, updated_at"
    };
}

/// A page and the total (see `rows::list_page`), oldest first.
const LIST: &str = concat!(
    "SELECT n.total, p.* FROM \
     (SELECT COUNT(*) AS total FROM campaigns WHERE organization_id = $1) n \
     LEFT JOIN (SELECT ",
    columns!(),
    " FROM campaigns WHERE organization_id = $1 ORDER BY id LIMIT $2 OFFSET $3) p ON TRUE \
     ORDER BY p.id"
);

fn from_row(row: &AnyRow) -> Result<Campaign, sqlx::Error> {
    Ok(Campaign {
        id: row.try_get("id")?,
        company_id: row.try_get("company_id")?,
        name: row.try_get("name")?,
        language: row.try_get("language")?,
        script: row.try_get("script")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// List the organization's campaigns.
///
/// `GET /api/v1/campaigns` (and `GET /campaigns`): a page of the organization's campaigns.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(Page),
    responses((status = 200, body = List<Campaign>), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    page: Page,
) -> Result<Json<List<Campaign>>, ApiError> {
    rows::list_page(&state, &principal.org_id, LIST, page, from_row).await
}

/// List campaigns (the plan's path).
///
/// `GET /campaigns`: the plan's path for the campaign list (same answer).
#[utoipa::path(get, path = "/campaigns", tag = "campaigns", params(Page),
    responses((status = 200, body = List<Campaign>), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn list_legacy(
    state: State<AppState>,
    principal: Principal,
    page: Page,
) -> Result<Json<List<Campaign>>, ApiError> {
    list(state, principal, page).await
}

/// Create a campaign.
///
/// `POST /api/v1/campaigns`: 201 with the new campaign (status `draft`);
/// 403 `max_campaigns` when the organization has its limit.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CampaignInput,
    responses((status = 201, body = Campaign), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(input): JsonBody<CampaignInput>,
) -> Result<Response, ApiError> {
    let valid = validate_input(input)?;
    let db = state.db()?;
    let at = now();
    let campaign = Campaign {
        id: new_id(),
        company_id: valid.company_id,
        name: valid.name,
        language: valid.language,
        script: valid.script,
        status: "draft".into(),
        created_at: at,
        updated_at: at,
    };
    let org = &principal.org_id;
    let mut tx = db.write_tx(org).await?;
    let limits = quota::lock(&mut tx, org, "campaigns").await?;
    quota::check_campaigns(&mut tx, org, &limits).await?;
    check_company(&mut tx, org, campaign.company_id.as_deref()).await?;
    sqlx::query(
        "INSERT INTO campaigns (id, organization_id, company_id, name, language, script, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $7)",
    )
    .bind(&campaign.id)
    .bind(org)
    .bind(&campaign.company_id)
    .bind(&campaign.name)
    .bind(&campaign.language)
    .bind(&campaign.script)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(campaign)).into_response())
}

/// Read a campaign.
///
/// `GET /api/v1/campaigns/{id}`: one campaign; 404 when it is not the organization's.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Campaign), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Json<Campaign>, ApiError> {
    rows::read_owned(
        &state,
        &principal.org_id,
        Freshness::MayLag,
        concat!(
            "SELECT ",
            columns!(),
            " FROM campaigns WHERE organization_id = $1 AND id = $2"
        ),
        &id,
        "campaign",
        from_row,
    )
    .await
}

/// Replace a campaign.
///
/// `PUT /api/v1/campaigns/{id}`: replaces name, language, script and company.
#[utoipa::path(put, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, format = Uuid)), request_body = CampaignInput,
    responses((status = 200, body = Campaign), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
    JsonBody(input): JsonBody<CampaignInput>,
) -> Result<Json<Campaign>, ApiError> {
    let valid = validate_input(input)?;
    let org = &principal.org_id;
    let mut tx = state.db()?.write_tx(org).await?;
    check_company(&mut tx, org, valid.company_id.as_deref()).await?;
    let query = sqlx::query(concat!(
        "UPDATE campaigns SET name = $3, language = $4, script = $5, company_id = $6, \
         updated_at = $7 WHERE organization_id = $1 AND id = $2 RETURNING ",
        columns!()
    ))
    .bind(org)
    .bind(id)
    .bind(valid.name)
    .bind(valid.language)
    .bind(valid.script)
    .bind(valid.company_id)
    .bind(now());
    rows::fetch_owned(tx, query, "campaign", from_row).await
}

/// Delete a campaign.
///
/// `DELETE /api/v1/campaigns/{id}`: 204.
#[utoipa::path(delete, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    rows::delete_owned(
        &state,
        &principal.org_id,
        "DELETE FROM campaigns WHERE organization_id = $1 AND id = $2",
        &id,
        "campaign",
    )
    .await
}

/// Start a campaign.
///
/// `POST /api/v1/campaigns/{id}/execute`: starts the campaign (status
/// `running`); running it again is harmless, a completed one is 409.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/execute", tag = "campaigns",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Campaign), (status = 401), (status = 404), (status = 409),
        (status = 422)),
    security(("bearer" = [])))]
pub async fn execute(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Json<Campaign>, ApiError> {
    let db = state.db()?;
    let mut tx = db.write_tx(&principal.org_id).await?;
    let row = sqlx::query(concat!(
        "UPDATE campaigns SET status = 'running', updated_at = $3 \
         WHERE organization_id = $1 AND id = $2 AND status <> 'completed' RETURNING ",
        columns!()
    ))
    .bind(&principal.org_id)
    .bind(&id)
    .bind(now())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM campaigns WHERE organization_id = $1 AND id = $2",
        )
        .bind(&principal.org_id)
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        return Err(if exists == 0 {
            ApiError::NotFound("campaign")
        } else {
            ApiError::Conflict("the campaign is completed".into())
        });
    };
    tx.commit().await?;
    #[cfg(feature = "telephony")]
    state.telephony().campaign_executed();
    Ok(Json(from_row(&row)?))
}
