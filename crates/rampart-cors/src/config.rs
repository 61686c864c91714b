//! What a person writes: origins, methods, headers, credentials, in code, in a
//! serde document or in environment variables. Nothing here is trusted until
//! [`CorsConfig::build`] has checked it.

use std::time::Duration;

use crate::{CorsConfigError, CorsConfigIssue, CorsLayer};

/// A CORS configuration, as written; [`CorsConfig::build`] validates all of it at
/// once and compiles the [`CorsLayer`].
///
/// Defaults are the safe choice: no origin, only the CORS-safelisted methods
/// (`GET`, `HEAD`, `POST`), no extra request header, no credentials, nothing
/// exposed, no max-age (browsers then cache a preflight for 5 seconds).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_cors::CorsConfig;
///
/// let layer = CorsConfig::new()
///     .allow_origins(["https://app.example.com", "https://*.preview.example.com"])
///     .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
///     .allow_headers(["authorization", "content-type"])
///     .expose_headers(["x-request-id", "retry-after"])
///     .allow_credentials(true)
///     .max_age(Duration::from_secs(600))
///     .build()
///     .expect("valid CORS configuration");
/// # let _ = layer;
/// ```
///
/// From serde (any format; JSON here), with the `serde` feature:
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use rampart_cors::CorsConfig;
///
/// let config: CorsConfig = serde_json::from_str(r#"{
///     "allowed_origins": ["http://localhost:5173"],
///     "allowed_methods": ["GET", "PUT"],
///     "allow_credentials": true
/// }"#).unwrap();
/// assert!(config.build().is_ok());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[must_use]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`), patterns
    /// (`https://*.example.com`, `http://localhost:*`), or `*` alone.
    pub allowed_origins: Vec<String>,
    /// Methods a preflight may ask for. `GET`, `HEAD` and `POST` never need
    /// a preflight and are always allowed.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for, or `*` for any but `Authorization`.
    pub allowed_headers: Vec<String>,
    /// Response headers a script may read beyond the safelisted ones.
    pub exposed_headers: Vec<String>,
    /// Whether a script may send cookies and read the response.
    pub allow_credentials: bool,
    /// How long a browser may cache a successful preflight, in seconds (at most 86400).
    pub max_age_secs: Option<u64>,
    /// Answer Private Network Access preflights
    /// (`Access-Control-Request-Private-Network`).
    pub allow_private_network: bool,
    /// Accept `http://` origins other than loopback together with credentials.
    pub tolerate_insecure_origins: bool,
    /// Accept patterns directly under a public suffix (`https://*.github.io`).
    pub tolerate_public_suffix_patterns: bool,
    /// Explain in the body of a rejected preflight why it was rejected. Can be
    /// switched at run time with [`CorsHandle::set_debug`](crate::CorsHandle::set_debug).
    pub debug: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl CorsConfig {
    /// The safe defaults: nothing allowed until origins are added.
    pub fn new() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_methods: Vec::new(),
            allowed_headers: Vec::new(),
            exposed_headers: Vec::new(),
            allow_credentials: false,
            max_age_secs: None,
            allow_private_network: false,
            tolerate_insecure_origins: false,
            tolerate_public_suffix_patterns: false,
            debug: false,
        }
    }

    /// Adds one origin or pattern. See [`Origin`](crate::Origin) and
    /// [`OriginPattern`](crate::OriginPattern) for the accepted forms.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Adds origins or patterns.
    pub fn allow_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.allowed_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Adds methods a preflight may ask for
    /// ([`Access-Control-Allow-Methods`](https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Access-Control-Allow-Methods)).
    pub fn allow_methods<I>(mut self, methods: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.allowed_methods
            .extend(methods.into_iter().map(Into::into));
        self
    }

    /// Adds request headers a preflight may ask for
    /// ([`Access-Control-Allow-Headers`](https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Access-Control-Allow-Headers)).
    pub fn allow_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.allowed_headers
            .extend(headers.into_iter().map(Into::into));
        self
    }

    /// Adds response headers scripts may read
    /// ([`Access-Control-Expose-Headers`](https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Access-Control-Expose-Headers)).
    pub fn expose_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.exposed_headers
            .extend(headers.into_iter().map(Into::into));
        self
    }

    /// Lets scripts send cookies and read the answer
    /// ([`Access-Control-Allow-Credentials`](https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Access-Control-Allow-Credentials)).
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.allow_credentials = allow;
        self
    }

    /// How long browsers may cache a preflight, whole seconds, at most a day
    /// ([`Access-Control-Max-Age`](https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Access-Control-Max-Age)).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age_secs = Some(max_age.as_secs());
        self
    }

    /// Answers Private Network Access preflights from public sites to this
    /// private-network server ([WICG spec](https://wicg.github.io/private-network-access/)).
    pub fn allow_private_network(mut self, allow: bool) -> Self {
        self.allow_private_network = allow;
        self
    }

    /// Accepts `http://` origins other than loopback along with credentials.
    pub fn tolerate_insecure_origins(mut self, tolerate: bool) -> Self {
        self.tolerate_insecure_origins = tolerate;
        self
    }

    /// Accepts patterns directly under a public suffix, such as `https://*.github.io`.
    pub fn tolerate_public_suffix_patterns(mut self, tolerate: bool) -> Self {
        self.tolerate_public_suffix_patterns = tolerate;
        self
    }

    /// Explains rejected preflights in their response body.
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// Validates everything and compiles the layer; the error lists every problem.
    pub fn build(&self) -> Result<CorsLayer, CorsConfigError> {
        CorsLayer::new(self)
    }

    /// Reads the configuration from the process environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `CORS_ALLOWED_ORIGINS` | comma-separated origins and patterns |
    /// | `CORS_ALLOWED_METHODS` | comma-separated methods |
    /// | `CORS_ALLOWED_HEADERS` | comma-separated request headers |
    /// | `CORS_EXPOSED_HEADERS` | comma-separated response headers |
    /// | `CORS_ALLOW_CREDENTIALS` | `true` / `false` |
    /// | `CORS_MAX_AGE` | seconds |
    /// | `CORS_ALLOW_PRIVATE_NETWORK` | `true` / `false` |
    /// | `CORS_DEBUG` | `true` / `false` |
    ///
    /// Unset variables keep the defaults. Values that do not parse are all
    /// reported in the error.
    pub fn from_env() -> Result<Self, CorsConfigError> {
        Self::from_env_with(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Like [`CorsConfig::from_env`], reading variables through `lookup`.
    ///
    /// ```
    /// use rampart_cors::CorsConfig;
    ///
    /// let config = CorsConfig::from_env_with(|name| match name {
    ///     "CORS_ALLOWED_ORIGINS" => Some("https://app.example.com, http://localhost:5173".into()),
    ///     "CORS_ALLOW_CREDENTIALS" => Some("true".into()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(config.allowed_origins, ["https://app.example.com", "http://localhost:5173"]);
    /// assert!(config.allow_credentials);
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CorsConfigError> {
        let mut config = Self::new();
        let mut issues = Vec::new();
        let list = |name: &str| lookup(name).map(|v| split_list(&v)).unwrap_or_default();
        config.allowed_origins = list("CORS_ALLOWED_ORIGINS");
        config.allowed_methods = list("CORS_ALLOWED_METHODS");
        config.allowed_headers = list("CORS_ALLOWED_HEADERS");
        config.exposed_headers = list("CORS_EXPOSED_HEADERS");
        let mut flag = |name: &'static str, target: &mut bool| {
            if let Some(value) = lookup(name) {
                match parse_bool(&value) {
                    Some(b) => *target = b,
                    None => issues.push(CorsConfigIssue::InvalidEnvVar {
                        name,
                        value,
                        expected: "true or false",
                    }),
                }
            }
        };
        flag("CORS_ALLOW_CREDENTIALS", &mut config.allow_credentials);
        flag(
            "CORS_ALLOW_PRIVATE_NETWORK",
            &mut config.allow_private_network,
        );
        flag("CORS_DEBUG", &mut config.debug);
        if let Some(value) = lookup("CORS_MAX_AGE") {
            match value.trim().parse::<u64>() {
                Ok(secs) => config.max_age_secs = Some(secs),
                Err(_) => issues.push(CorsConfigIssue::InvalidEnvVar {
                    name: "CORS_MAX_AGE",
                    value,
                    expected: "a whole number of seconds",
                }),
            }
        }
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(CorsConfigError::new(issues))
        }
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Result<CorsConfig, CorsConfigError> {
        CorsConfig::from_env_with(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn env_reads_every_variable() {
        let config = env(&[
            (
                "CORS_ALLOWED_ORIGINS",
                " https://a.example.com ,, http://localhost:* ",
            ),
            ("CORS_ALLOWED_METHODS", "GET,PUT"),
            ("CORS_ALLOWED_HEADERS", "authorization, content-type"),
            ("CORS_EXPOSED_HEADERS", "x-request-id"),
            ("CORS_ALLOW_CREDENTIALS", "TRUE"),
            ("CORS_MAX_AGE", "600"),
            ("CORS_ALLOW_PRIVATE_NETWORK", "1"),
            ("CORS_DEBUG", "on"),
        ])
        .unwrap();
        assert_eq!(
            config.allowed_origins,
            ["https://a.example.com", "http://localhost:*"]
        );
        assert_eq!(config.allowed_methods, ["GET", "PUT"]);
        assert_eq!(config.allowed_headers, ["authorization", "content-type"]);
        assert_eq!(config.exposed_headers, ["x-request-id"]);
        assert!(config.allow_credentials && config.allow_private_network && config.debug);
        assert_eq!(config.max_age_secs, Some(600));
        assert!(config.build().is_ok());
    }

    #[test]
    fn env_reports_every_bad_value() {
        let err = env(&[
            ("CORS_ALLOW_CREDENTIALS", "maybe"),
            ("CORS_MAX_AGE", "-1"),
            ("CORS_DEBUG", "2"),
        ])
        .unwrap_err();
        assert_eq!(err.issues().len(), 3);
        assert!(err.to_string().contains("CORS_MAX_AGE"));
    }

    #[test]
    fn unset_env_gives_defaults_which_do_not_build() {
        let config = env(&[]).unwrap();
        assert_eq!(config, CorsConfig::new());
        let err = config.build().unwrap_err();
        assert_eq!(err.issues(), [CorsConfigIssue::NoOrigins]);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_round_trip_and_unknown_fields() {
        let config = CorsConfig::new()
            .allow_origin("https://a.example.com")
            .allow_credentials(true);
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<CorsConfig>(&json).unwrap(), config);
        assert!(serde_json::from_str::<CorsConfig>(r#"{"allow_origins": []}"#).is_err());
    }
}
