//! The authentication settings of `serve`, and what they build.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use clap::Args;
use rampart::ratelimit::{Quota, RateLimitConfigError, RateLimitLayer, Store};

use crate::auth::{
    AuthLayer, DEFAULT_HASH_WAIT, KEY_FILE_NAME, KeyError, Keys, LoginLimiter, PasswordPool,
    TokenIssuer, TokenSettings, TokenVerifier, api_rate_limit_layer, default_address_quota,
    default_permits,
};

/// The longest `ACCESS_TOKEN_TTL`: a stolen token is good for at most a week.
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The authentication options of `serve`, each also an environment variable
/// (flatten it into the command line with `#[command(flatten)]`).
///
/// The signing key comes from, in order: `JWT_PRIVATE_KEY` (the PEM text),
/// `JWT_PRIVATE_KEY_FILE`, else `DATA_DIR/jwt-ed25519.pem`, generated on the
/// first start. Public keys of earlier signing keys go in
/// `JWT_PUBLIC_KEYS_DIR` while tokens they signed may still be in use.
///
/// # Example
///
/// ```
/// use clap::Parser;
/// use operator_demo::auth::AuthArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     auth: AuthArgs,
/// }
///
/// let cli = Cli::try_parse_from(["demo", "--access-token-ttl", "600"]).unwrap();
/// assert_eq!(cli.auth.access_token_ttl.as_secs(), 600);
/// assert_eq!(cli.auth.jwt_issuer, "operator-demo");
/// assert_eq!(cli.auth.rate_limit_login.to_string(), "5/15minutes");
///
/// let err = Cli::try_parse_from(["demo", "--rate-limit-api", "100/fortnight"]).err().unwrap();
/// assert!(err.to_string().contains("RATE_LIMIT_API"));
///
/// let dir = tempfile::tempdir().unwrap();
/// let auth = cli.auth.build(dir.path()).unwrap();
/// assert!(dir.path().join("jwt-ed25519.pem").exists());
/// # let _ = auth;
/// ```
#[derive(Clone, Args)]
pub struct AuthArgs {
    /// PEM file (PKCS#8) of the Ed25519 key that signs access tokens
    /// (`operator-demo keygen PATH` makes one). Default: DATA_DIR/jwt-ed25519.pem,
    /// generated on the first start.
    #[arg(
        long = "jwt-private-key-file",
        env = "JWT_PRIVATE_KEY_FILE",
        value_name = "JWT_PRIVATE_KEY_FILE",
        conflicts_with = "jwt_private_key"
    )]
    pub jwt_private_key_file: Option<PathBuf>,

    /// The signing key's PEM text itself, for platforms that pass secrets in
    /// the environment.
    #[arg(
        long = "jwt-private-key",
        env = "JWT_PRIVATE_KEY",
        value_name = "JWT_PRIVATE_KEY",
        hide_env_values = true
    )]
    pub jwt_private_key: Option<String>,

    /// Folder of `*.pem` public keys (or private keys) whose tokens are also
    /// accepted: earlier signing keys, during a rotation.
    #[arg(
        long = "jwt-public-keys-dir",
        env = "JWT_PUBLIC_KEYS_DIR",
        value_name = "JWT_PUBLIC_KEYS_DIR"
    )]
    pub jwt_public_keys_dir: Option<PathBuf>,

    /// The `iss` claim written and required.
    #[arg(
        long = "jwt-issuer",
        env = "JWT_ISSUER",
        value_name = "JWT_ISSUER",
        default_value = "operator-demo",
        value_parser = non_empty
    )]
    pub jwt_issuer: String,

    /// The `aud` claim written and required.
    #[arg(
        long = "jwt-audience",
        env = "JWT_AUDIENCE",
        value_name = "JWT_AUDIENCE",
        default_value = "operator-demo-api",
        value_parser = non_empty
    )]
    pub jwt_audience: String,

    /// Seconds an access token is valid (1 to 604800).
    #[arg(
        long = "access-token-ttl",
        env = "ACCESS_TOKEN_TTL",
        value_name = "ACCESS_TOKEN_TTL",
        default_value = "3600",
        value_parser = parse_ttl
    )]
    pub access_token_ttl: Duration,

    /// Login attempts per client address and email on `POST /auth/login`,
    /// as `N/period` (`5/15minutes`).
    #[arg(
        long = "rate-limit-login",
        env = "RATE_LIMIT_LOGIN",
        value_name = "RATE_LIMIT_LOGIN",
        default_value = "5/15minutes"
    )]
    pub rate_limit_login: Quota,

    /// Login attempts per client address on `POST /auth/login`, whatever
    /// the email, as `N/period;burst=B`.
    #[arg(
        long = "rate-limit-login-address",
        env = "RATE_LIMIT_LOGIN_ADDRESS",
        value_name = "RATE_LIMIT_LOGIN_ADDRESS",
        default_value = crate::auth::DEFAULT_LOGIN_ADDRESS_QUOTA
    )]
    pub rate_limit_login_address: Quota,

    /// argon2id hashes run at once (logins, new users), each holding 19 MiB
    /// and a core: 1 to 1024, default the number of cores.
    #[arg(
        long = "password-hash-concurrency",
        env = "PASSWORD_HASH_CONCURRENCY",
        value_name = "PASSWORD_HASH_CONCURRENCY",
        default_value_t = default_permits(),
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024)
    )]
    pub password_hash_concurrency: usize,

    /// Milliseconds a login waits for a free hashing slot before its 503
    /// (0 to 10000).
    #[arg(
        long = "password-hash-wait-ms",
        env = "PASSWORD_HASH_WAIT_MS",
        value_name = "PASSWORD_HASH_WAIT_MS",
        default_value = "300",
        value_parser = clap::value_parser!(u64).range(0..=10_000)
    )]
    pub password_hash_wait_ms: u64,

    /// Requests per user under `/api`, as `N/period` (`100/minute`).
    #[arg(
        long = "rate-limit-api",
        env = "RATE_LIMIT_API",
        value_name = "RATE_LIMIT_API",
        default_value = "100/minute"
    )]
    pub rate_limit_api: Quota,
}

impl fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthArgs")
            .field("jwt_private_key_file", &self.jwt_private_key_file)
            .field(
                "jwt_private_key",
                &self.jwt_private_key.as_ref().map(|_| "[redacted]"),
            )
            .field("jwt_public_keys_dir", &self.jwt_public_keys_dir)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("rate_limit_login", &self.rate_limit_login)
            .field("rate_limit_login_address", &self.rate_limit_login_address)
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("password_hash_wait_ms", &self.password_hash_wait_ms)
            .field("rate_limit_api", &self.rate_limit_api)
            .finish()
    }
}

impl Default for AuthArgs {
    /// The defaults of the command line, with no variable set.
    fn default() -> Self {
        Self {
            jwt_private_key_file: None,
            jwt_private_key: None,
            jwt_public_keys_dir: None,
            jwt_issuer: "operator-demo".into(),
            jwt_audience: "operator-demo-api".into(),
            access_token_ttl: Duration::from_secs(3600),
            rate_limit_login: Quota::per_seconds(5, 900)
                .unwrap_or_else(|_| unreachable!("5 per 15 minutes is a valid quota")),
            rate_limit_login_address: default_address_quota(),
            password_hash_concurrency: default_permits(),
            password_hash_wait_ms: u64::try_from(DEFAULT_HASH_WAIT.as_millis()).unwrap_or(300),
            rate_limit_api: Quota::per_seconds(100, 60)
                .unwrap_or_else(|_| unreachable!("100 per minute is a valid quota")),
        }
    }
}

/// A setting of [`AuthArgs`] that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {source}")]
pub struct AuthConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    #[source]
    pub source: KeyError,
}

impl From<AuthConfigError> for crate::Error {
    fn from(err: AuthConfigError) -> Self {
        Self::Config {
            variable: err.variable,
            message: err.source.to_string(),
        }
    }
}

impl AuthArgs {
    /// The token settings these options describe.
    pub fn token_settings(&self) -> TokenSettings {
        TokenSettings {
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            ttl: self.access_token_ttl,
            ..TokenSettings::default()
        }
    }

    /// Loads (or, for the embedded default, generates into `data_dir`) the
    /// keys, and builds everything authentication needs.
    pub fn build(&self, data_dir: &Path) -> Result<Authentication, AuthConfigError> {
        let keys = self.keys(data_dir)?;
        let settings = self.token_settings();
        Ok(Authentication {
            issuer: TokenIssuer::new(&keys, &settings),
            verifier: TokenVerifier::new(&keys, &settings),
            keys,
            login_quota: self.rate_limit_login,
            login_address_quota: self.rate_limit_login_address,
            api_quota: self.rate_limit_api,
            passwords: PasswordPool::new(
                self.password_hash_concurrency,
                Duration::from_millis(self.password_hash_wait_ms),
            ),
        })
    }

    fn keys(&self, data_dir: &Path) -> Result<Keys, AuthConfigError> {
        let error = |variable| move |source| AuthConfigError { variable, source };
        let keys =
            match (&self.jwt_private_key, &self.jwt_private_key_file) {
                (Some(pem), _) => Keys::from_private_pem(pem, "JWT_PRIVATE_KEY")
                    .map_err(error("JWT_PRIVATE_KEY"))?,
                (None, Some(path)) => {
                    Keys::from_private_file(path).map_err(error("JWT_PRIVATE_KEY_FILE"))?
                }
                (None, None) => Keys::load_or_generate(&data_dir.join(KEY_FILE_NAME))
                    .map_err(error("DATA_DIR"))?,
            };
        match &self.jwt_public_keys_dir {
            Some(dir) => keys
                .with_public_keys_dir(dir)
                .map_err(error("JWT_PUBLIC_KEYS_DIR")),
            None => Ok(keys),
        }
    }
}

/// Everything authentication needs, built once by [`AuthArgs::build`] and
/// cloned cheaply into the app's state and layers.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use operator_demo::auth::AuthArgs;
/// use rampart::ratelimit::MemoryStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// let auth = AuthArgs::default().build(dir.path()).unwrap();
/// let layer = auth.layer();
/// let limiter = auth.login_limiter(Arc::new(MemoryStore::new()));
/// let api_limit = auth.api_rate_limit_layer(MemoryStore::new()).unwrap();
/// assert_eq!(limiter.quota().count(), 5);
/// # let _ = (layer, api_limit);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Authentication {
    /// The keys (signing and verification).
    pub keys: Keys,
    /// Signs the tokens `POST /auth/login` hands out.
    pub issuer: TokenIssuer,
    /// Verifies them, in [`AuthLayer`].
    pub verifier: TokenVerifier,
    /// `RATE_LIMIT_LOGIN`.
    pub login_quota: Quota,
    /// `RATE_LIMIT_LOGIN_ADDRESS`.
    pub login_address_quota: Quota,
    /// `RATE_LIMIT_API`.
    pub api_quota: Quota,
    /// `PASSWORD_HASH_CONCURRENCY`, `PASSWORD_HASH_WAIT_MS`: where every
    /// argon2id hash of the app runs.
    pub passwords: PasswordPool,
}

impl Authentication {
    /// The layer that verifies bearer tokens.
    pub fn layer(&self) -> AuthLayer {
        AuthLayer::new(self.verifier.clone())
    }

    /// The login limiter, counting in `store`.
    pub fn login_limiter(&self, store: Arc<dyn Store>) -> LoginLimiter {
        LoginLimiter::new(store, self.login_quota).per_address(self.login_address_quota)
    }

    /// The per-user API limit, counting in `store`.
    pub fn api_rate_limit_layer(
        &self,
        store: impl Store,
    ) -> Result<RateLimitLayer, RateLimitConfigError> {
        api_rate_limit_layer(store, self.api_quota)
    }
}

fn non_empty(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.len() > 256 {
        return Err("expected 1 to 256 characters".into());
    }
    Ok(value.to_owned())
}

fn parse_ttl(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(secs) if (1..=MAX_ACCESS_TOKEN_TTL.as_secs()).contains(&secs) => {
            Ok(Duration::from_secs(secs))
        }
        _ => Err(format!(
            "expected whole seconds from 1 to {}, got {value:?}",
            MAX_ACCESS_TOKEN_TTL.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        auth: AuthArgs,
    }

    fn parse(args: &[&str]) -> Result<AuthArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("demo").chain(args.iter().copied())).map(|c| c.auth)
    }

    #[test]
    fn defaults_match_default() {
        let parsed = parse(&[]).unwrap();
        let default = AuthArgs::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: [(&[&str], &str); 12] = [
            (
                &["--rate-limit-login-address", "10/minute;burst=0"],
                "RATE_LIMIT_LOGIN_ADDRESS",
            ),
            (
                &["--password-hash-concurrency", "0"],
                "PASSWORD_HASH_CONCURRENCY",
            ),
            (
                &["--password-hash-concurrency", "1025"],
                "PASSWORD_HASH_CONCURRENCY",
            ),
            (
                &["--password-hash-wait-ms", "soon"],
                "PASSWORD_HASH_WAIT_MS",
            ),
            (
                &["--password-hash-wait-ms", "10001"],
                "PASSWORD_HASH_WAIT_MS",
            ),
            (&["--access-token-ttl", "0"], "ACCESS_TOKEN_TTL"),
            (&["--access-token-ttl", "soon"], "ACCESS_TOKEN_TTL"),
            (&["--access-token-ttl", "604801"], "ACCESS_TOKEN_TTL"),
            (&["--rate-limit-login", "0/minute"], "RATE_LIMIT_LOGIN"),
            (&["--rate-limit-api", ""], "RATE_LIMIT_API"),
            (&["--jwt-issuer", " "], "JWT_ISSUER"),
            (&["--jwt-audience", ""], "JWT_AUDIENCE"),
        ];
        for (args, variable) in cases {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(variable), "{args:?}: {err}");
        }
        assert!(parse(&["--jwt-private-key", "x", "--jwt-private-key-file", "y"]).is_err());
    }

    #[test]
    fn bad_keys_name_their_variable() {
        let dir = tempfile::tempdir().unwrap();
        let with = |f: fn(&mut AuthArgs)| {
            let mut args = AuthArgs::default();
            f(&mut args);
            args.build(dir.path()).unwrap_err().to_string()
        };
        let err = with(|a| a.jwt_private_key = Some("-----BEGIN PRIVATE KEY-----".into()));
        assert!(err.starts_with("invalid JWT_PRIVATE_KEY:"), "{err}");
        let err = with(|a| a.jwt_private_key_file = Some("/nonexistent/key.pem".into()));
        assert!(err.starts_with("invalid JWT_PRIVATE_KEY_FILE:"), "{err}");
        let err = with(|a| a.jwt_public_keys_dir = Some("/nonexistent".into()));
        assert!(err.starts_with("invalid JWT_PUBLIC_KEYS_DIR:"), "{err}");
        // The secret never shows in debug output.
        let args = AuthArgs {
            jwt_private_key: Some("SECRET".into()),
            ..AuthArgs::default()
        };
        assert!(!format!("{args:?}").contains("SECRET"));
    }
}
