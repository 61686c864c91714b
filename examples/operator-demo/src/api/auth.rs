//! `POST /auth/login`, `GET /auth/me` and `GET /.well-known/jwks.json`.

use axum::http::Extensions;
use rampart::core::ClientIp;

use super::prelude::*;
use crate::{
    auth::{Jwks, Role, password},
    db::NO_TENANT,
};

/// The login form.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    /// The account's email.
    #[schema(format = Email, max_length = 254, example = "user1@example.com")]
    pub email: String,
    /// Its password, 1 to 1024 bytes.
    #[schema(min_length = 1, max_length = 1024, example = "test123")]
    pub password: String,
}

/// The token a successful login answers with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// `GET /auth/me`: who the token says the caller is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    /// The user's id.
    pub id: String,
    /// Their email.
    pub email: String,
    /// Their name.
    pub full_name: String,
    /// `admin` or `agent`.
    #[schema(value_type = String, example = "admin")]
    pub role: Role,
    /// Their organization's id.
    pub organization_id: String,
}

/// The placeholder user an unknown email is looked up as, in no
/// organization ([`NO_TENANT`]): no row has it (ids are UUID v4/v5/v7,
/// never nil), so the lookup finds nothing, after the same statements as
/// for a known email.
const NOBODY: &str = NO_TENANT;

/// Log in with email and password.
///
/// `POST /auth/login`: checks the email and password and answers with a
/// token. An unknown email and a wrong password get the same 401 after the
/// same work: the same two reads (the email's directory row, then the user's
/// row in its organization, looked up for a placeholder when there is
/// none) and one argon2id verification, under the same hashing permit.
/// Five attempts per client address and email within 15 minutes, and 60 a
/// minute per address (10 at once), then 429 with `Retry-After`; every
/// hashing slot taken past `PASSWORD_HASH_WAIT_MS`: 503 with `Retry-After`.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginInput,
    responses((status = 200, body = TokenResponse), (status = 401), (status = 422),
        (status = 429), (status = 503)))]
pub async fn login(
    State(state): State<AppState>,
    extensions: Extensions,
    JsonBody(input): JsonBody<LoginInput>,
) -> Result<Response, ApiError> {
    let email = validate::email("email", &input.email)?;
    if input.password.is_empty() || input.password.len() > password::MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid("password", "must be 1 to 1024 bytes"));
    }
    let client_ip = extensions.get::<ClientIp>().map(ClientIp::ip);
    if let Err(limited) = state.login_limiter().check(client_ip, &email).await {
        return Ok(limited);
    }
    let db = state.db()?;

    // Who has this email: the one lookup made before a tenant is known
    // (user_logins holds no hash and no tenant data; see docs/configuration.md).
    // Both reads are `Latest`: a user created a moment ago logs in at once,
    // whatever the replica's lag.
    let login = db
        .read(NO_TENANT, Freshness::Latest, |tx| {
            let email = email.clone();
            Box::pin(async move {
                sqlx::query("SELECT user_id, organization_id FROM user_logins WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut **tx)
                    .await
            })
        })
        .await?;
    let (user_id, org_id) = match login {
        Some(row) => (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?),
        None => (NOBODY.to_owned(), NO_TENANT.to_owned()),
    };
    // Read for an unknown email too: its time would tell a known one.
    let user = rows::read_row(
        &state,
        &org_id,
        Freshness::Latest,
        "SELECT password_hash, role FROM users WHERE organization_id = $1 AND id = $2",
        &user_id,
    )
    .await?;
    let (hash, role) = match user {
        Some(row) => (
            Some(row.try_get::<String, _>(0)?),
            row.try_get::<String, _>(1)?,
        ),
        None => (None, String::new()),
    };
    if !state.passwords().verify(input.password, hash).await? {
        return Err(ApiError::BadCredentials);
    }
    let role = role
        .parse::<Role>()
        .map_err(|err| ApiError::Internal(format!("stored role: {err}")))?;
    let principal = Principal {
        user_id,
        org_id,
        role,
    };
    let token = state
        .tokens()?
        .issue(&principal)
        .map_err(|err| ApiError::Internal(err.to_string()))?;
    Ok(Json(TokenResponse {
        access_token: token.access_token,
        token_type: token.token_type.to_owned(),
        expires_in: token.expires_in,
    })
    .into_response())
}

/// Show the caller's account.
///
/// `GET /auth/me`: the caller's account.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401)),
    security(("bearer" = [])))]
pub async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<Me>, ApiError> {
    // Latest: a token issued a moment ago names a user the replica may not
    // have yet.
    let row = rows::read_row(
        &state,
        &principal.org_id,
        Freshness::Latest,
        "SELECT email, full_name FROM users WHERE organization_id = $1 AND id = $2",
        &principal.user_id,
    )
    .await?;
    // A valid token for a user deleted since: not an account any more.
    let row = row.ok_or(ApiError::BadCredentials)?;
    Ok(Json(Me {
        id: principal.user_id,
        email: row.try_get(0)?,
        full_name: row.try_get(1)?,
        role: principal.role,
        organization_id: principal.org_id,
    }))
}

/// List the keys tokens verify with.
///
/// `GET /.well-known/jwks.json`: the public keys the demo's tokens verify
/// with (RFC 7517, `OKP`/`Ed25519` keys with their `kid`), the current
/// signing key first and rotated ones after, so that another service can
/// verify a token without the demo's key files. Public; cacheable for five
/// minutes, shorter than any rotation takes.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, body = Jwks), (status = 503)))]
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jwks = state.tokens()?.jwks();
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        Json(jwks),
    )
        .into_response())
}
