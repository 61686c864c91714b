//! Middleware which authenticates bearer tokens: see [`AuthLayer`].

mod future;
mod service;

use tower::Layer;

pub use self::{future::ResponseFuture, service::Auth};
use super::TokenVerifier;

/// Middleware which authenticates `Authorization: Bearer <jwt>` requests and
/// puts the verified [`Principal`](super::Principal) in their extensions.
///
/// - A valid token: the request goes on with its `Principal`.
/// - No `Authorization` header, or another scheme than `Bearer` (such as the
///   `Basic` credentials of a proxy in front): the request goes on untouched.
///   Public routes work; a handler that takes `Principal` answers 401.
/// - A `Bearer` token that is malformed, expired, signed with another
///   algorithm or key, or made for another issuer or audience, or several
///   `Authorization` headers: `401` problem+json with
///   `WWW-Authenticate: Bearer error="invalid_token"`, and the handler never
///   runs. No header bytes make it panic or answer 500.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, body::Body, http::Request, routing::get};
/// use operator_demo::auth::{AuthLayer, Keys, Principal, Role, TokenIssuer, TokenSettings, TokenVerifier};
/// use tower::ServiceExt;
///
/// let keys = Keys::generate();
/// let issuer = TokenIssuer::new(&keys, &TokenSettings::default());
/// let verifier = TokenVerifier::new(&keys, &TokenSettings::default());
/// let app = Router::new()
///     .route("/me", get(|principal: Principal| async move { principal.user_id }))
///     .route("/health", get(|| async { "ok" }))
///     .layer(AuthLayer::new(verifier));
///
/// let ada = Principal { user_id: "u1".into(), org_id: "o1".into(), role: Role::Agent };
/// let token = issuer.issue(&ada).unwrap().access_token;
/// let signed_in = Request::get("/me")
///     .header("authorization", format!("Bearer {token}"))
///     .body(Body::empty())
///     .unwrap();
/// assert_eq!(app.clone().oneshot(signed_in).await.unwrap().status(), 200);
///
/// let anonymous = Request::get("/health").body(Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(anonymous).await.unwrap().status(), 200);
///
/// let forged = Request::get("/health")
///     .header("authorization", "Bearer not.a.token")
///     .body(Body::empty())
///     .unwrap();
/// let response = app.oneshot(forged).await.unwrap();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthLayer {
    verifier: TokenVerifier,
}

impl AuthLayer {
    /// Authenticates with `verifier`.
    pub fn new(verifier: TokenVerifier) -> Self {
        Self { verifier }
    }

    /// The verifier tokens are checked with.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth::new(inner, self.verifier.clone())
    }
}
