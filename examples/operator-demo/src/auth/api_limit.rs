//! The per-user API limit (`RATE_LIMIT_API`): a rate-limit policy keyed by
//! the authenticated user, placed after [`AuthLayer`](super::AuthLayer), on
//! `/api` and on the plan's `/campaigns` (the same list under another path).

use std::borrow::Cow;

use axum::http::request::Parts;
use rampart::ratelimit::{
    Policy, PrincipalExtractor, PrincipalKey, Quota, RateLimitConfigError, RateLimitLayer, Store,
};

use super::Principal;

/// The name of the per-user API policy, as it appears in `RateLimit-Policy`,
/// problem bodies and counters.
pub const API_POLICY: &str = "api";

/// The paths the per-user limit applies under (at a segment boundary).
pub const API_PATH_PREFIX: &str = "/api";

/// The routes outside [`API_PATH_PREFIX`] that serve API data and count
/// against the same per-user limit: the plan's `GET /campaigns`.
pub const API_LEGACY_PATHS: [&str; 1] = ["/campaigns"];

/// Tells rampart-ratelimit who made a request: the user id of the
/// [`Principal`] that [`AuthLayer`](super::AuthLayer) verified. Anonymous
/// requests have none, so a per-user policy does not count them (give them a
/// per-address policy as well: the demo's global one).
///
/// # Example
///
/// ```
/// use operator_demo::auth::{ByUserId, Principal, Role};
/// use rampart::ratelimit::{Key, KeyExtractor, PrincipalKey};
///
/// let mut request = axum::http::Request::new(());
/// request.extensions_mut().insert(Principal { user_id: "u1".into(), org_id: "o1".into(), role: Role::Agent });
/// let (parts, ()) = request.into_parts();
/// assert_eq!(PrincipalKey::new(ByUserId).extract(&parts), Some(Key::text("u1")));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ByUserId;

impl PrincipalExtractor for ByUserId {
    fn principal<'a>(&self, parts: &'a Parts) -> Option<Cow<'a, str>> {
        parts
            .extensions
            .get::<Principal>()
            .map(|principal| Cow::Borrowed(principal.user_id.as_str()))
    }
}

/// The plan's per-user API policy: `quota` per user id, on `/api` and below
/// and on [`API_LEGACY_PATHS`].
///
/// ```
/// use operator_demo::auth::api_policy;
///
/// let policy = api_policy("100/minute".parse().unwrap());
/// assert_eq!(policy.name(), "api");
/// ```
pub fn api_policy(quota: Quota) -> Policy {
    let policy = Policy::new(API_POLICY, quota)
        // The name is a constant that `Policy::new` accepts (checked by a test).
        .unwrap_or_else(|_| unreachable!("\"api\" is a valid policy name"))
        .path_prefix(API_PATH_PREFIX);
    API_LEGACY_PATHS
        .into_iter()
        .fold(policy, Policy::path_prefix)
        .key(PrincipalKey::new(ByUserId))
}

/// A [`RateLimitLayer`] applying [`api_policy`] in `store`: place it inside
/// (after) the [`AuthLayer`](super::AuthLayer), so that the principal is
/// known. Requests without a principal pass, counted as `no_key`; limited
/// ones get the layer's 429 with `Retry-After` and the `RateLimit` fields.
///
/// Pass the same store the edge limiter uses (a `FallbackStore` over Redis
/// when `REDIS_URL` is set) so that every replica shares one count per user.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, body::Body, http::Request, routing::get};
/// use operator_demo::auth::{Principal, Role, api_rate_limit_layer};
/// use rampart::ratelimit::MemoryStore;
/// use tower::ServiceExt;
///
/// let app = Router::new()
///     .route("/api/v1/companies", get(|| async { "[]" }))
///     .layer(api_rate_limit_layer(MemoryStore::new(), "1/minute".parse().unwrap()).unwrap());
/// let request = |user: &str| {
///     let mut request = Request::get("/api/v1/companies").body(Body::empty()).unwrap();
///     request.extensions_mut().insert(Principal { user_id: user.into(), org_id: "o1".into(), role: Role::Agent });
///     request
/// };
/// assert_eq!(app.clone().oneshot(request("u1")).await.unwrap().status(), 200);
/// let limited = app.clone().oneshot(request("u1")).await.unwrap();
/// assert_eq!(limited.status(), 429);
/// assert_eq!(limited.headers()["ratelimit-policy"], "\"api\";q=1;w=60");
/// assert_eq!(app.clone().oneshot(request("u2")).await.unwrap().status(), 200);
/// // No principal: not this policy's business.
/// let anonymous = Request::get("/api/v1/companies").body(Body::empty()).unwrap();
/// assert_eq!(app.oneshot(anonymous).await.unwrap().status(), 200);
/// // The plan's `/campaigns` counts in the same limit.
/// let app = Router::new()
///     .route("/campaigns", get(|| async { "[]" }))
///     .layer(api_rate_limit_layer(MemoryStore::new(), "1/minute".parse().unwrap()).unwrap());
/// let legacy = |user: &str| {
///     let mut request = Request::get("/campaigns").body(Body::empty()).unwrap();
///     request.extensions_mut().insert(Principal { user_id: user.into(), org_id: "o1".into(), role: Role::Agent });
///     request
/// };
/// assert_eq!(app.clone().oneshot(legacy("u1")).await.unwrap().status(), 200);
/// assert_eq!(app.clone().oneshot(legacy("u1")).await.unwrap().status(), 429);
/// # }
/// ```
pub fn api_rate_limit_layer(
    store: impl Store,
    quota: Quota,
) -> Result<RateLimitLayer, RateLimitConfigError> {
    RateLimitLayer::builder(store)
        .policy(api_policy(quota))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_name_is_valid() {
        assert!(Policy::new(API_POLICY, "1/second".parse().unwrap()).is_ok());
    }
}
