//! `/api/v1/companies`: the organization's customer companies.

use super::prelude::*;

/// A company.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Company {
    /// Its id (UUID).
    #[schema(format = Uuid)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its web domain, if known.
    pub domain: Option<String>,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it last changed (Unix seconds).
    pub updated_at: i64,
}

/// What a client sends to create or replace a company.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyInput {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// A domain name such as `example.com`.
    #[schema(max_length = 253)]
    pub domain: Option<String>,
}

struct Valid {
    name: String,
    domain: Option<String>,
}

fn validate_input(input: CompanyInput) -> Result<Valid, ApiError> {
    let name = validate::text("name", &input.name, 1, 200)?;
    let domain = match input.domain {
        None => None,
        Some(domain) => Some(check_domain(&domain)?),
    };
    Ok(Valid { name, domain })
}

fn check_domain(domain: &str) -> Result<String, ApiError> {
    let domain = domain.trim().to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if domain.len() <= 253 && domain.contains('.') && domain.split('.').all(label_ok) {
        Ok(domain)
    } else {
        Err(ApiError::invalid(
            "domain",
            "expected a domain name such as example.com",
        ))
    }
}

/// A page and the total (see `rows::list_page`), oldest first.
const LIST: &str = "SELECT n.total, p.* FROM \
     (SELECT COUNT(*) AS total FROM companies WHERE organization_id = $1) n \
     LEFT JOIN (SELECT id, name, domain, created_at, updated_at FROM companies \
     WHERE organization_id = $1 ORDER BY id LIMIT $2 OFFSET $3) p ON TRUE \
     ORDER BY p.id";

fn from_row(row: &AnyRow) -> Result<Company, sqlx::Error> {
    Ok(Company {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        domain: row.try_get("domain")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// List the organization's companies.
///
/// `GET /api/v1/companies`: a page of the organization's companies, oldest first.
#[utoipa::path(get, path = "/api/v1/companies", tag = "companies", params(Page),
    responses((status = 200, body = List<Company>), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    page: Page,
) -> Result<Json<List<Company>>, ApiError> {
    rows::list_page(&state, &principal.org_id, LIST, page, from_row).await
}

/// Create a company.
///
/// `POST /api/v1/companies`: 201 with the new company.
#[utoipa::path(post, path = "/api/v1/companies", tag = "companies", request_body = CompanyInput,
    responses((status = 201, body = Company), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(input): JsonBody<CompanyInput>,
) -> Result<Response, ApiError> {
    let valid = validate_input(input)?;
    let db = state.db()?;
    let at = now();
    let company = Company {
        id: new_id(),
        name: valid.name,
        domain: valid.domain,
        created_at: at,
        updated_at: at,
    };
    let mut tx = db.write_tx(&principal.org_id).await?;
    sqlx::query(
        "INSERT INTO companies (id, organization_id, name, domain, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&company.id)
    .bind(&principal.org_id)
    .bind(&company.name)
    .bind(&company.domain)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(company)).into_response())
}

/// Read a company.
///
/// `GET /api/v1/companies/{id}`: one company; 404 when it is not the organization's.
#[utoipa::path(get, path = "/api/v1/companies/{id}", tag = "companies",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Company), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Json<Company>, ApiError> {
    rows::read_owned(
        &state,
        &principal.org_id,
        Freshness::MayLag,
        "SELECT id, name, domain, created_at, updated_at FROM companies \
         WHERE organization_id = $1 AND id = $2",
        &id,
        "company",
        from_row,
    )
    .await
}

/// Replace a company.
///
/// `PUT /api/v1/companies/{id}`: replaces name and domain.
#[utoipa::path(put, path = "/api/v1/companies/{id}", tag = "companies",
    params(("id" = String, Path, format = Uuid)), request_body = CompanyInput,
    responses((status = 200, body = Company), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
    JsonBody(input): JsonBody<CompanyInput>,
) -> Result<Json<Company>, ApiError> {
    let valid = validate_input(input)?;
    let tx = state.db()?.write_tx(&principal.org_id).await?;
    let query = sqlx::query(
        "UPDATE companies SET name = $3, domain = $4, updated_at = $5 \
         WHERE organization_id = $1 AND id = $2 \
         RETURNING id, name, domain, created_at, updated_at",
    )
    .bind(&principal.org_id)
    .bind(id)
    .bind(valid.name)
    .bind(valid.domain)
    .bind(now());
    rows::fetch_owned(tx, query, "company", from_row).await
}

/// Delete a company.
///
/// `DELETE /api/v1/companies/{id}`: 204; its campaigns stay, without a company.
#[utoipa::path(delete, path = "/api/v1/companies/{id}", tag = "companies",
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
        "DELETE FROM companies WHERE organization_id = $1 AND id = $2",
        &id,
        "company",
    )
    .await
}
