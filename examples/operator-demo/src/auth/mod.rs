//! Who is calling: passwords, access tokens, the layer that verifies them,
//! and the rate limits that belong to identities.
//!
//! - [`Principal`] and [`Role`]: what the rest of the app sees of the caller
//!   (the contract between authentication and the handlers).
//! - [`password`]: argon2id hashing and verification.
//! - [`PasswordPool`]: where the app runs them, at most
//!   `PASSWORD_HASH_CONCURRENCY` at once (503 past a short wait).
//! - [`Keys`], [`TokenIssuer`], [`TokenVerifier`]: Ed25519-signed JWTs with
//!   key rotation by `kid`; [`keygen`] for `operator-demo keygen`.
//! - [`AuthLayer`]: `Authorization: Bearer` → `Principal` in the extensions.
//! - [`AuthArgs`]: the `JWT_*`, `ACCESS_TOKEN_TTL` and `RATE_LIMIT_LOGIN` /
//!   `RATE_LIMIT_API` settings, and [`AuthArgs::build`] that turns them into
//!   an [`Authentication`].
//! - [`LoginLimiter`]: the login limits, per client address and submitted
//!   email and per client address.
//! - [`api_rate_limit_layer`]: the per-user API limit.
//!
//! # Example
//!
//! ```
//! use operator_demo::auth::{Principal, Role, password};
//! use operator_demo::auth::{Keys, TokenIssuer, TokenSettings, TokenVerifier};
//!
//! // At login: check the password, then issue a token.
//! let stored = password::hash_password("test123").unwrap();
//! assert!(password::verify_password("test123", &stored));
//! let keys = Keys::generate();
//! let issuer = TokenIssuer::new(&keys, &TokenSettings::default());
//! let ada = Principal { user_id: "u1".into(), org_id: "o1".into(), role: Role::Agent };
//! let token = issuer.issue(&ada).unwrap();
//!
//! // On every request (inside AuthLayer): verify it.
//! let verifier = TokenVerifier::new(&keys, &TokenSettings::default());
//! assert_eq!(verifier.verify(&token.access_token).unwrap(), ada);
//! ```

mod api_limit;
mod crypto;
mod keys;
mod layer;
mod login_limit;
pub mod password;
mod pool;
mod principal;
mod token;

pub use self::{
    api_limit::{
        API_LEGACY_PATHS, API_PATH_PREFIX, API_POLICY, ByUserId, api_policy, api_rate_limit_layer,
    },
    keys::{Jwk, Jwks, KEY_FILE_NAME, KeyError, Keys, keygen},
    layer::{Auth, AuthLayer, ResponseFuture},
    login_limit::{
        DEFAULT_LOGIN_ADDRESS_QUOTA, LOGIN_ADDRESS_POLICY, LOGIN_POLICY, LoginLimiter,
        default_address_quota,
    },
    pool::{DEFAULT_HASH_WAIT, HASH_MEMORY_BYTES, PasswordPool, PoolError, default_permits},
    principal::{Principal, Role},
    token::{IssuedToken, MAX_TOKEN_BYTES, TokenError, TokenIssuer, TokenSettings, TokenVerifier},
};
/// The settings (`JWT_*`, `RATE_LIMIT_LOGIN`, ...) live in
/// [`config::auth`](crate::config::auth).
pub use crate::config::auth::{AuthArgs, AuthConfigError, Authentication, MAX_ACCESS_TOKEN_TTL};
