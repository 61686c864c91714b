//! Configuration from the environment or a file (serde).

use std::time::Duration;

use http::HeaderValue;
use rampart_core::TrustedProxies;

use crate::{
    FrameOptions, Hsts, Preset, ReferrerPolicy, SecurityHeaders, SecurityHeadersConfigError,
    csp::ContentSecurityPolicy,
};

/// The settings of [`SecurityHeaders`] as plain values, for the environment
/// ([`from_env`](Self::from_env)) or, with the `serde` feature, a
/// configuration file. Everything left unset keeps the preset's value.
///
/// | field | environment (`SECURITY_HEADERS_` + ) | value |
/// |---|---|---|
/// | `preset` | `PRESET` | `api` (default) or `html_app` |
/// | `csp` | `CSP` | a policy, `'nonce'` for the per-request nonce |
/// | `csp_report_only` | `CSP_REPORT_ONLY` | bool |
/// | `hsts` | `HSTS` | bool; `false` sends no HSTS |
/// | `hsts_max_age` | `HSTS_MAX_AGE` | seconds |
/// | `hsts_include_subdomains` | `HSTS_INCLUDE_SUBDOMAINS` | bool |
/// | `hsts_preload` | `HSTS_PRELOAD` | bool |
/// | `hsts_always` | `HSTS_ALWAYS` | bool: also on plain HTTP |
/// | `frame_options` | `FRAME_OPTIONS` | `DENY`, `SAMEORIGIN` |
/// | `referrer_policy` | `REFERRER_POLICY` | a `Referrer-Policy` token |
/// | `permissions_policy` | `PERMISSIONS_POLICY` | a `Permissions-Policy` value |
/// | `trusted_proxies` | `TRUSTED_PROXIES` | CIDRs, comma-separated |
/// | `override_handlers` | `OVERRIDE_HANDLERS` | bool: replace what handlers set |
/// | `exempt` | `EXEMPT` | path prefixes, comma-separated |
/// | `routes` | (file only) | `[{ prefix = "/docs", csp = "..." }]` |
///
/// Booleans are `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use rampart_headers::SecurityHeadersConfig;
///
/// let env = HashMap::from([
///     ("SECURITY_HEADERS_PRESET", "html_app"),
///     ("SECURITY_HEADERS_HSTS_ALWAYS", "true"),
///     ("SECURITY_HEADERS_EXEMPT", "/metrics, /healthz"),
/// ]);
/// let config = SecurityHeadersConfig::from_lookup("SECURITY_HEADERS_", |k| env.get(k).map(|v| v.to_string()))?;
/// let layer = config.into_security_headers()?.build()?;
/// # let _ = layer;
///
/// // A typo names the variable and the value.
/// let bad = HashMap::from([("SECURITY_HEADERS_FRAME_OPTIONS", "ALLOW-FROM x")]);
/// let err = SecurityHeadersConfig::from_lookup("SECURITY_HEADERS_", |k| bad.get(k).map(|v| v.to_string()))
///     .unwrap_err();
/// assert!(err.to_string().contains("SECURITY_HEADERS_FRAME_OPTIONS"));
/// # Ok::<(), rampart_headers::SecurityHeadersConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct SecurityHeadersConfig {
    /// The preset to start from.
    pub preset: Preset,
    /// The Content Security Policy, as text.
    pub csp: Option<String>,
    /// Send the policy report-only.
    pub csp_report_only: Option<bool>,
    /// Whether to send HSTS at all.
    pub hsts: Option<bool>,
    /// HSTS `max-age` in seconds.
    pub hsts_max_age: Option<u64>,
    /// HSTS `includeSubDomains`.
    pub hsts_include_subdomains: Option<bool>,
    /// HSTS `preload`.
    pub hsts_preload: Option<bool>,
    /// HSTS on plain-HTTP responses too.
    pub hsts_always: Option<bool>,
    /// `X-Frame-Options`.
    pub frame_options: Option<FrameOptions>,
    /// `Referrer-Policy`.
    pub referrer_policy: Option<ReferrerPolicy>,
    /// `Permissions-Policy`, as written.
    pub permissions_policy: Option<String>,
    /// Trusted proxies, comma-separated.
    pub trusted_proxies: Option<String>,
    /// Every header replaces the handler's.
    pub override_handlers: Option<bool>,
    /// Path prefixes left untouched.
    pub exempt: Vec<String>,
    /// Path prefixes with a policy of their own.
    pub routes: Vec<RouteConfig>,
}

/// A route prefix with its own Content Security Policy (the rest as the top level).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RouteConfig {
    /// The path prefix, starting with `/`.
    pub prefix: String,
    /// The policy, as text.
    pub csp: String,
}

impl RouteConfig {
    /// A route with this policy text.
    pub fn new(prefix: impl Into<String>, csp: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            csp: csp.into(),
        }
    }
}

fn parse_bool(setting: &'static str, text: &str) -> Result<bool, SecurityHeadersConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SecurityHeadersConfigError::InvalidValue {
            setting,
            value: text.to_owned(),
            expected: "true or false",
        }),
    }
}

impl SecurityHeadersConfig {
    /// Reads the `SECURITY_HEADERS_*` variables of the process environment.
    pub fn from_env() -> Result<Self, SecurityHeadersConfigError> {
        Self::from_lookup("SECURITY_HEADERS_", |name| std::env::var(name).ok())
    }

    /// Reads `prefix` + each name from `lookup` (the environment, a map in a
    /// test). An empty value counts as unset. Errors name the variable.
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SecurityHeadersConfigError> {
        let mut config = Self::default();
        let get = |name: &str| -> Option<(String, String)> {
            let var = format!("{prefix}{name}");
            lookup(&var)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (var, v))
        };
        let in_var = |var: &str, e: SecurityHeadersConfigError| SecurityHeadersConfigError::Env {
            var: var.to_owned(),
            source: Box::new(e),
        };
        macro_rules! read {
            ($name:literal, $field:ident, |$v:ident| $parse:expr) => {
                if let Some((var, $v)) = get($name) {
                    config.$field = Some($parse.map_err(|e| in_var(&var, e))?);
                }
            };
        }
        if let Some((var, v)) = get("PRESET") {
            config.preset = v.parse().map_err(|e| in_var(&var, e))?;
        }
        read!("CSP", csp, |v| v
            .parse::<ContentSecurityPolicy>()
            .map(|_| v)
            .map_err(SecurityHeadersConfigError::from));
        read!("CSP_REPORT_ONLY", csp_report_only, |v| parse_bool(
            "csp_report_only",
            &v
        ));
        read!("HSTS", hsts, |v| parse_bool("hsts", &v));
        read!("HSTS_MAX_AGE", hsts_max_age, |v| v
            .trim()
            .parse::<u64>()
            .map_err(|_| {
                SecurityHeadersConfigError::InvalidValue {
                    setting: "hsts_max_age",
                    value: v.clone(),
                    expected: "a number of seconds",
                }
            }));
        read!("HSTS_INCLUDE_SUBDOMAINS", hsts_include_subdomains, |v| {
            parse_bool("hsts_include_subdomains", &v)
        });
        read!("HSTS_PRELOAD", hsts_preload, |v| parse_bool(
            "hsts_preload",
            &v
        ));
        read!("HSTS_ALWAYS", hsts_always, |v| parse_bool(
            "hsts_always",
            &v
        ));
        read!("FRAME_OPTIONS", frame_options, |v| v
            .parse::<FrameOptions>());
        read!("REFERRER_POLICY", referrer_policy, |v| v
            .parse::<ReferrerPolicy>());
        read!("PERMISSIONS_POLICY", permissions_policy, |v| Ok::<
            _,
            SecurityHeadersConfigError,
        >(v));
        read!("TRUSTED_PROXIES", trusted_proxies, |v| v
            .parse::<TrustedProxies>()
            .map(|_| v)
            .map_err(SecurityHeadersConfigError::from));
        read!("OVERRIDE_HANDLERS", override_handlers, |v| parse_bool(
            "override_handlers",
            &v
        ));
        if let Some((_, v)) = get("EXEMPT") {
            config.exempt = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
        }
        // Check everything now, so that the error names the variable.
        let _layer = config
            .clone()
            .into_security_headers()
            .and_then(SecurityHeaders::build)
            .map_err(|e| in_var(&format!("{prefix}*"), e))?;
        Ok(config)
    }

    /// The [`SecurityHeaders`] these settings describe.
    pub fn into_security_headers(self) -> Result<SecurityHeaders, SecurityHeadersConfigError> {
        let mut headers = match self.preset {
            Preset::Api => SecurityHeaders::api(),
            Preset::HtmlApp => SecurityHeaders::html_app(),
        };
        let mut csp = headers.csp.clone();
        if let Some(text) = &self.csp {
            csp = Some(text.parse::<ContentSecurityPolicy>()?);
        }
        if let (Some(report_only), Some(policy)) = (self.csp_report_only, &csp) {
            csp = Some(policy.to_builder().report_only(report_only).build()?);
        }
        if let Some(csp) = csp {
            headers = headers.content_security_policy(csp);
        }
        if self.hsts == Some(false) {
            headers = headers.without(&http::header::STRICT_TRANSPORT_SECURITY);
        } else {
            let mut hsts = headers.hsts.unwrap_or_else(Hsts::one_year);
            if let Some(secs) = self.hsts_max_age {
                hsts = Hsts::new(Duration::from_secs(secs))
                    .include_subdomains(self.hsts_include_subdomains.unwrap_or(true));
            }
            if let Some(yes) = self.hsts_include_subdomains {
                hsts = hsts.include_subdomains(yes);
            }
            if let Some(yes) = self.hsts_preload {
                hsts = hsts.preload(yes);
            }
            if let Some(yes) = self.hsts_always {
                hsts = hsts.always(yes);
            }
            hsts.validate()?;
            headers = headers.hsts(hsts);
        }
        if let Some(value) = self.frame_options {
            headers = headers.frame_options(value);
        }
        if let Some(value) = self.referrer_policy {
            headers = headers.referrer_policy(value);
        }
        if let Some(text) = &self.permissions_policy {
            let value = HeaderValue::from_str(text.trim()).map_err(|_| {
                SecurityHeadersConfigError::InvalidValue {
                    setting: "permissions_policy",
                    value: text.clone(),
                    expected: "a header value (visible ASCII)",
                }
            })?;
            headers = headers.permissions_policy(value);
        }
        if let Some(list) = &self.trusted_proxies {
            headers = headers.trusted_proxies(list.parse::<TrustedProxies>()?);
        }
        if self.override_handlers == Some(true) {
            headers = headers.overriding_all();
        }
        for prefix in self.exempt {
            headers = headers.exempt(prefix);
        }
        for route in self.routes {
            let csp: ContentSecurityPolicy = route.csp.parse()?;
            let mut policy = headers.clone();
            policy.routes.clear();
            headers = headers.route(route.prefix, policy.content_security_policy(csp));
        }
        Ok(headers)
    }
}

impl SecurityHeaders {
    /// [`SecurityHeadersConfig::from_env`], then its headers.
    ///
    /// ```
    /// // With no SECURITY_HEADERS_* variable set: the api() preset.
    /// let layer = rampart_headers::SecurityHeaders::from_env()?.build()?;
    /// # let _ = layer;
    /// # Ok::<(), rampart_headers::SecurityHeadersConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, SecurityHeadersConfigError> {
        SecurityHeadersConfig::from_env()?.into_security_headers()
    }
}
