//! The verified caller, as the rest of the app sees it.

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use rampart::core::Problem;
use serde::{Deserialize, Serialize};

/// A user's role inside its organization.
///
/// # Example
///
/// ```
/// use operator_demo::auth::Role;
///
/// assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
/// assert!("root".parse::<Role>().is_err());
/// assert_eq!(Role::Agent.as_str(), "agent");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages the organization: users, quotas, usage.
    Admin,
    /// Places and handles calls.
    Agent,
}

impl Role {
    /// The role as stored and as carried in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent => "agent",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "agent" => Ok(Self::Agent),
            other => Err(format!("unknown role `{other}` (expected admin or agent)")),
        }
    }
}

/// The authenticated caller: set in the request's extensions by the
/// authentication layer once a token is verified, and nowhere else.
///
/// Handlers take it as an extractor; a request without one is answered
/// `401` problem+json before the handler runs.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, body::Body, http::Request, routing::get};
/// use operator_demo::auth::{Principal, Role};
/// use tower::ServiceExt;
///
/// async fn me(principal: Principal) -> String {
///     principal.user_id
/// }
/// let app = Router::new().route("/me", get(me));
///
/// let anonymous = Request::get("/me").body(Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(anonymous).await.unwrap().status(), 401);
///
/// let mut signed_in = Request::get("/me").body(Body::empty()).unwrap();
/// signed_in.extensions_mut().insert(Principal {
///     user_id: "u1".into(),
///     org_id: "o1".into(),
///     role: Role::Agent,
/// });
/// assert_eq!(app.oneshot(signed_in).await.unwrap().status(), 200);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's id.
    pub user_id: String,
    /// The id of the user's organization (the tenant).
    pub org_id: String,
    /// The user's role in that organization.
    pub role: Role,
}

impl Principal {
    /// Whether the caller administers its organization.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            let mut response = Problem::new(StatusCode::UNAUTHORIZED)
                .with_detail("a valid bearer token is required")
                .into_response::<axum::body::Body>()
                .into_response();
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            response
        })
    }
}

/// The principal's organization is its tenant (rampart-tenant's layer 9).
impl rampart::tenant::TenantPrincipal for Principal {
    fn tenant_id(&self) -> Option<&str> {
        Some(&self.org_id)
    }
}
