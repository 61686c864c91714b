//! Access tokens: JWTs signed with Ed25519 (`EdDSA`), carrying the user, the
//! organization and the role.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind,
    get_current_timestamp,
};
use moka::sync::Cache;
use serde::{Deserialize, Serialize};

use super::{Jwks, Keys, Principal, Role, crypto};

/// The longest token accepted, in bytes. Ours are about 400; a longer one is
/// refused before any base64 or JSON work.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What every token says about where it is valid and for how long.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use operator_demo::auth::TokenSettings;
///
/// let settings = TokenSettings::default();
/// assert_eq!(settings.issuer, "operator-demo");
/// assert_eq!(settings.audience, "operator-demo-api");
/// assert_eq!(settings.ttl, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// The `iss` claim written and required (`JWT_ISSUER`).
    pub issuer: String,
    /// The `aud` claim written and required (`JWT_AUDIENCE`).
    pub audience: String,
    /// How long a token is valid (`ACCESS_TOKEN_TTL`).
    pub ttl: Duration,
    /// Clock difference tolerated between replicas on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "operator-demo".into(),
            audience: "operator-demo-api".into(),
            ttl: Duration::from_secs(3600),
            leeway: Duration::from_secs(30),
        }
    }
}

/// What a verified token's claims are read into; jsonwebtoken has checked
/// `iss`, `aud` (a string or an array), `exp` and `nbf` already.
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    sub: String,
    org: String,
    role: Role,
    iat: u64,
    exp: u64,
}

/// How many verified tokens a verifier remembers, and for how long at most.
/// A signature check costs tens of microseconds; a client sends its token
/// with every request, so each is checked once per [`CACHE_TTL`] instead.
/// Only tokens that verified are kept (a forged one is never a hit), and a
/// hit still honours the token's `exp`.
const CACHE_CAPACITY: u64 = 10_000;
const CACHE_TTL: Duration = Duration::from_secs(300);

/// The claims of an access token.
#[derive(Debug, Clone, Serialize)]
struct Claims {
    /// The user id.
    sub: String,
    /// The organization id.
    org: String,
    role: Role,
    iss: String,
    aud: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// The body `POST /auth/login` answers with (OAuth 2.0's token response).
///
/// # Example
///
/// ```
/// use operator_demo::auth::IssuedToken;
///
/// let token = IssuedToken { access_token: "eyJ...".into(), token_type: "bearer", expires_in: 3600 };
/// assert_eq!(
///     serde_json::to_string(&token).unwrap(),
///     r#"{"access_token":"eyJ...","token_type":"bearer","expires_in":3600}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Why a token was not accepted (or could not be made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a JWT, too long, or its claims are not ours.
    #[error("the token is malformed")]
    Malformed,
    /// Signed with another algorithm than EdDSA (`none`, `HS256`...).
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// Its `kid` names no key this server has.
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    /// The signature does not match.
    #[error("the token's signature is invalid")]
    Signature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Not yet valid (`nbf` or `iat` in the future).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Made for another issuer or audience.
    #[error("the token was issued for another service")]
    WrongAudience,
    /// The token could not be signed.
    #[error("cannot sign the token: {0}")]
    Signing(String),
}

/// Signs access tokens with the current key.
///
/// # Example
///
/// ```
/// use operator_demo::auth::{Keys, Principal, Role, TokenIssuer, TokenSettings, TokenVerifier};
///
/// let keys = Keys::generate();
/// let issuer = TokenIssuer::new(&keys, &TokenSettings::default());
/// let verifier = TokenVerifier::new(&keys, &TokenSettings::default());
///
/// let ada = Principal { user_id: "u1".into(), org_id: "o1".into(), role: Role::Admin };
/// let token = issuer.issue(&ada).unwrap();
/// assert_eq!((token.token_type, token.expires_in), ("bearer", 3600));
/// assert_eq!(verifier.verify(&token.access_token).unwrap(), ada);
/// ```
#[derive(Clone)]
pub struct TokenIssuer {
    inner: Arc<IssuerInner>,
}

struct IssuerInner {
    key: EncodingKey,
    jwks: Jwks,
    header: Header,
    settings: TokenSettings,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.inner.header.kid)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with `keys`' current key.
    pub fn new(keys: &Keys, settings: &TokenSettings) -> Self {
        crypto::install();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.kid().to_owned());
        Self {
            inner: Arc::new(IssuerInner {
                key: EncodingKey::from_ed_der(&keys.signing_der()),
                jwks: keys.jwks(),
                header,
                settings: settings.clone(),
            }),
        }
    }

    /// The public keys its tokens verify with, rotated ones included, as
    /// `/.well-known/jwks.json` serves them.
    pub fn jwks(&self) -> &Jwks {
        &self.inner.jwks
    }

    /// The settings tokens are made with.
    pub fn settings(&self) -> &TokenSettings {
        &self.inner.settings
    }

    /// A token for `principal`, valid from now for the configured time.
    pub fn issue(&self, principal: &Principal) -> Result<IssuedToken, TokenError> {
        let settings = &self.inner.settings;
        let now = get_current_timestamp();
        let ttl = settings.ttl.as_secs();
        let claims = Claims {
            sub: principal.user_id.clone(),
            org: principal.org_id.clone(),
            role: principal.role,
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
        };
        let access_token = jsonwebtoken::encode(&self.inner.header, &claims, &self.inner.key)
            .map_err(|err| TokenError::Signing(err.to_string()))?;
        Ok(IssuedToken {
            access_token,
            token_type: "bearer",
            expires_in: ttl,
        })
    }
}

/// Checks access tokens: EdDSA only, a known `kid`, a valid signature, our
/// `iss` and `aud`, within `nbf`..`exp` (with the settings' leeway).
///
/// See [`TokenIssuer`] for an example.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    /// By `kid`: filled from configuration, never from a request.
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    leeway: u64,
    /// Verified tokens (the whole token is the key), with their `exp`.
    verified: Cache<Arc<str>, (Principal, u64)>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.inner.keys.keys().collect();
        kids.sort();
        f.debug_struct("TokenVerifier")
            .field("kids", &kids)
            .field("iss", &self.inner.validation.iss)
            .field("aud", &self.inner.validation.aud)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier accepting tokens signed by any of `keys`' verification keys.
    pub fn new(keys: &Keys, settings: &TokenSettings) -> Self {
        crypto::install();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = settings.leeway.as_secs();
        let keys = keys
            .verification_keys()
            .map(|(kid, bytes)| (kid.to_owned(), DecodingKey::from_ed_der(bytes)))
            .collect();
        Self {
            inner: Arc::new(VerifierInner {
                keys,
                validation,
                leeway: settings.leeway.as_secs(),
                verified: Cache::builder()
                    .max_capacity(CACHE_CAPACITY)
                    .time_to_live(CACHE_TTL)
                    .build(),
            }),
        }
    }

    /// The principal `token` speaks for, or why it is not accepted.
    ///
    /// ```
    /// use operator_demo::auth::{Keys, TokenError, TokenSettings, TokenVerifier};
    ///
    /// let verifier = TokenVerifier::new(&Keys::generate(), &TokenSettings::default());
    /// assert_eq!(verifier.verify("not.a.jwt"), Err(TokenError::Malformed));
    /// // {"alg":"none"} is no algorithm at all: never accepted.
    /// assert_eq!(verifier.verify("eyJhbGciOiJub25lIn0.e30."), Err(TokenError::Malformed));
    /// // {"alg":"HS256"}: refused before any key is looked at.
    /// assert_eq!(verifier.verify("eyJhbGciOiJIUzI1NiJ9.e30.AAAA"), Err(TokenError::Algorithm));
    /// ```
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        if let Some((principal, exp)) = self.inner.verified.get(token) {
            if exp.saturating_add(self.inner.leeway) > get_current_timestamp() {
                return Ok(principal);
            }
            self.inner.verified.invalidate(token);
            return Err(TokenError::Expired);
        }
        let (principal, exp) = self.verify_uncached(token)?;
        self.inner
            .verified
            .insert(Arc::from(token), (principal.clone(), exp));
        Ok(principal)
    }

    fn verify_uncached(&self, token: &str) -> Result<(Principal, u64), TokenError> {
        // The header is read (unverified) only to choose the key: the
        // algorithm is pinned by `Validation` and again by the provider.
        let header = jsonwebtoken::decode_header(token).map_err(|err| match err.kind() {
            ErrorKind::InvalidAlgorithmName => TokenError::Algorithm,
            _ => TokenError::Malformed,
        })?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.inner.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let claims = jsonwebtoken::decode::<VerifiedClaims>(token, key, &self.inner.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                _ => TokenError::Malformed,
            })?
            .claims;
        if claims.iat > get_current_timestamp().saturating_add(self.inner.leeway) {
            return Err(TokenError::NotYetValid);
        }
        if claims.sub.is_empty() || claims.org.is_empty() {
            return Err(TokenError::Malformed);
        }
        let principal = Principal {
            user_id: claims.sub,
            org_id: claims.org,
            role: claims.role,
        };
        Ok((principal, claims.exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_token_still_expires() {
        let keys = Keys::generate();
        let settings = TokenSettings {
            // Claims count whole seconds: 2 s leaves at least one for the two
            // first checks on a loaded machine (1 s failed there once).
            ttl: Duration::from_secs(2),
            leeway: Duration::ZERO,
            ..TokenSettings::default()
        };
        let token = TokenIssuer::new(&keys, &settings)
            .issue(&Principal {
                user_id: "u".into(),
                org_id: "o".into(),
                role: Role::Agent,
            })
            .unwrap()
            .access_token;
        let verifier = TokenVerifier::new(&keys, &settings);
        assert!(verifier.verify(&token).is_ok());
        assert!(verifier.verify(&token).is_ok(), "from the cache");
        std::thread::sleep(Duration::from_millis(3100));
        assert_eq!(verifier.verify(&token), Err(TokenError::Expired));
        assert_eq!(verifier.verify(&token), Err(TokenError::Expired));
    }
}
