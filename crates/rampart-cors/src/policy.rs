//! A validated configuration compiled for the hot path: matchers built and
//! header values rendered once, so that answering a request allocates nothing
//! but the response itself.

use std::collections::HashSet;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use rampart_core::Problem;

use crate::{
    AllowedOrigins, CorsConfig, CorsConfigError, CorsConfigIssue, Origin, OriginError,
    OriginPattern,
    origin::{Scheme, is_loopback_host},
};

/// Which origins are allowed.
#[derive(Debug, Clone)]
pub(crate) enum Origins {
    /// `*`, only without credentials.
    Any,
    /// An allow-list.
    List(AllowedOrigins),
}

/// Request headers a preflight may ask for.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedHeaders {
    /// `*`: any header but `Authorization`, which must be named.
    pub(crate) any: bool,
    /// Lower-case names.
    pub(crate) names: HashSet<Box<[u8]>, foldhash::fast::RandomState>,
    /// The listed names joined, the `Access-Control-Allow-Headers` answer
    /// when no `*` is configured: a shared value, and no request bytes reflected.
    pub(crate) listed: Option<HeaderValue>,
}

impl AllowedHeaders {
    /// Whether `name` (any case, already checked to be a token) is allowed.
    pub(crate) fn allows(&self, name: &[u8]) -> bool {
        let listed = if name.iter().any(u8::is_ascii_uppercase) {
            self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
        } else {
            self.names.contains(name)
        };
        listed || (self.any && !name.eq_ignore_ascii_case(b"authorization"))
    }
}

/// The compiled policy one request is decided by.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) origins: Origins,
    pub(crate) credentials: bool,
    /// `*` among the methods: any method a browser may send.
    pub(crate) any_method: bool,
    /// Methods beyond the safelisted ones, byte-exact (methods are
    /// case-sensitive), each with its `Access-Control-Allow-Methods` value.
    pub(crate) methods: Vec<(Method, HeaderValue)>,
    pub(crate) headers: AllowedHeaders,
    pub(crate) expose: Option<HeaderValue>,
    pub(crate) max_age: Option<HeaderValue>,
    pub(crate) private_network: bool,
    /// `Vary` of every preflight answer.
    pub(crate) preflight_vary: HeaderValue,
    /// The body of a rejected preflight outside debug mode, rendered once.
    pub(crate) rejection_body: Bytes,
}

const FORBIDDEN_METHODS: [&str; 3] = ["CONNECT", "TRACE", "TRACK"];
const NORMALIZED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
pub(crate) const SAFELISTED_METHODS: [&[u8]; 3] = [b"GET", b"HEAD", b"POST"];

/// Request headers a script can never set (Fetch, "forbidden request-header").
const FORBIDDEN_REQUEST_HEADERS: [&str; 21] = [
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
];

impl Policy {
    /// Validates `config` completely; the error lists every problem.
    pub(crate) fn compile(config: &CorsConfig) -> Result<Self, CorsConfigError> {
        let mut issues = Vec::new();
        let origins = compile_origins(config, &mut issues);
        let (any_method, methods) = compile_methods(&config.allowed_methods, &mut issues);
        let headers = compile_headers(&config.allowed_headers, &mut issues);
        let expose = compile_expose(config, &mut issues);
        let max_age = match config.max_age_secs {
            Some(secs) if secs > 86_400 => {
                issues.push(CorsConfigIssue::MaxAgeTooLarge { secs });
                None
            }
            Some(secs) => Some(HeaderValue::from(secs)),
            None => None,
        };
        if !issues.is_empty() {
            return Err(CorsConfigError::new(issues));
        }
        let preflight_vary = HeaderValue::from_static(if config.allow_private_network {
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"
        } else {
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        });
        let rejection_body = Problem::new(StatusCode::FORBIDDEN)
            .with_title("CORS preflight rejected")
            .to_bytes();
        Ok(Self {
            origins: origins.unwrap_or(Origins::List(AllowedOrigins::default())),
            credentials: config.allow_credentials,
            any_method,
            methods,
            headers,
            expose,
            max_age,
            private_network: config.allow_private_network,
            preflight_vary,
            rejection_body,
        })
    }
}

fn compile_origins(config: &CorsConfig, issues: &mut Vec<CorsConfigIssue>) -> Option<Origins> {
    let entries = &config.allowed_origins;
    if entries.is_empty() {
        issues.push(CorsConfigIssue::NoOrigins);
        return None;
    }
    if entries.iter().any(|e| e == "*") {
        if config.allow_credentials {
            issues.push(CorsConfigIssue::WildcardWithCredentials);
        }
        if entries.len() > 1 {
            issues.push(CorsConfigIssue::WildcardWithOrigins);
        }
        return Some(Origins::Any);
    }
    let mut exact = Vec::new();
    let mut patterns = Vec::new();
    for value in entries {
        if value.eq_ignore_ascii_case("null") {
            issues.push(CorsConfigIssue::NullOrigin);
        } else if value.contains('*') {
            match OriginPattern::parse(value) {
                Ok(pattern) => {
                    check_pattern(config, value, &pattern, issues);
                    patterns.push(pattern);
                }
                Err(reason) => issues.push(CorsConfigIssue::InvalidPattern {
                    value: value.clone(),
                    reason,
                }),
            }
        } else {
            match value.parse::<Origin>() {
                Ok(origin) => {
                    check_secure(config, value, origin.scheme(), origin.host(), issues);
                    exact.push(origin);
                }
                Err(OriginError::Null) => issues.push(CorsConfigIssue::NullOrigin),
                Err(reason) => issues.push(CorsConfigIssue::InvalidOrigin {
                    value: value.clone(),
                    reason,
                }),
            }
        }
    }
    Some(Origins::List(AllowedOrigins::new(exact, patterns)))
}

fn check_secure(
    config: &CorsConfig,
    value: &str,
    scheme: Scheme,
    host: &str,
    issues: &mut Vec<CorsConfigIssue>,
) {
    if config.allow_credentials
        && !config.tolerate_insecure_origins
        && scheme == Scheme::Http
        && !is_loopback_host(host)
    {
        issues.push(CorsConfigIssue::InsecureOriginWithCredentials {
            value: value.to_owned(),
        });
    }
}

fn check_pattern(
    config: &CorsConfig,
    value: &str,
    pattern: &OriginPattern,
    issues: &mut Vec<CorsConfigIssue>,
) {
    let base = pattern.base_host();
    // `http://*.localhost` is loopback; `http://*.example.com` is not.
    let loopback_probe = if pattern.admits_subdomains() {
        format!("x.{base}")
    } else {
        base.to_owned()
    };
    check_secure(config, value, pattern.scheme(), &loopback_probe, issues);
    if pattern.admits_subdomains() && !config.tolerate_public_suffix_patterns {
        // Only suffixes the list knows: `*.localhost` or `*.internal` fall to
        // the list's implicit `*` rule, and are private names, not public ones.
        if let Some(suffix) = psl::suffix(base.as_bytes()) {
            if suffix.is_known() && suffix.as_bytes() == base.as_bytes() {
                issues.push(CorsConfigIssue::PublicSuffixPattern {
                    value: value.to_owned(),
                    suffix: base.to_owned(),
                });
            }
        }
    }
}

fn compile_methods(
    entries: &[String],
    issues: &mut Vec<CorsConfigIssue>,
) -> (bool, Vec<(Method, HeaderValue)>) {
    let mut any = false;
    let mut methods = Vec::new();
    for value in entries {
        if value == "*" {
            any = true;
            continue;
        }
        let upper = value.to_ascii_uppercase();
        if FORBIDDEN_METHODS.contains(&upper.as_str()) {
            issues.push(CorsConfigIssue::ForbiddenMethod {
                value: value.clone(),
            });
        } else if NORMALIZED_METHODS.contains(&upper.as_str()) && upper != *value {
            issues.push(CorsConfigIssue::MethodCase {
                value: value.clone(),
                upper,
            });
        } else {
            match Method::from_bytes(value.as_bytes()) {
                Ok(method) => {
                    let listed = methods.iter().any(|(m, _)| *m == method);
                    if !SAFELISTED_METHODS.contains(&method.as_str().as_bytes()) && !listed {
                        // A method token is always a valid header value.
                        if let Ok(value) = HeaderValue::from_str(method.as_str()) {
                            methods.push((method, value));
                        }
                    }
                }
                Err(_) => issues.push(CorsConfigIssue::InvalidMethod {
                    value: value.clone(),
                }),
            }
        }
    }
    (any, methods)
}

fn is_forbidden_request_header(lower: &str) -> bool {
    FORBIDDEN_REQUEST_HEADERS.contains(&lower)
        || lower.starts_with("proxy-")
        || lower.starts_with("sec-")
}

fn compile_headers(entries: &[String], issues: &mut Vec<CorsConfigIssue>) -> AllowedHeaders {
    let mut allowed = AllowedHeaders::default();
    for value in entries {
        if value == "*" {
            allowed.any = true;
            continue;
        }
        match HeaderName::from_bytes(value.as_bytes()) {
            Ok(name) if is_forbidden_request_header(name.as_str()) => {
                issues.push(CorsConfigIssue::ForbiddenRequestHeader {
                    value: value.clone(),
                });
            }
            Ok(name) => {
                allowed.names.insert(name.as_str().as_bytes().into());
            }
            Err(_) => issues.push(CorsConfigIssue::InvalidHeaderName {
                value: value.clone(),
            }),
        }
    }
    let mut names: Vec<&str> = allowed
        .names
        .iter()
        .filter_map(|n| std::str::from_utf8(n).ok())
        .collect();
    names.sort_unstable();
    // Header names are tokens, so the joined list is always a valid value.
    allowed.listed = (!names.is_empty())
        .then(|| HeaderValue::from_str(&names.join(", ")).ok())
        .flatten();
    allowed
}

fn compile_expose(config: &CorsConfig, issues: &mut Vec<CorsConfigIssue>) -> Option<HeaderValue> {
    let mut names: Vec<String> = Vec::new();
    for value in &config.exposed_headers {
        if value == "*" {
            if config.allow_credentials {
                issues.push(CorsConfigIssue::WildcardExposeWithCredentials);
            }
            names.push("*".into());
            continue;
        }
        match HeaderName::from_bytes(value.as_bytes()) {
            Ok(name) if matches!(name.as_str(), "set-cookie" | "set-cookie2") => {
                issues.push(CorsConfigIssue::ForbiddenExposedHeader {
                    value: value.clone(),
                });
            }
            Ok(name) => {
                if !names.iter().any(|n| n == name.as_str()) {
                    names.push(name.as_str().to_owned());
                }
            }
            Err(_) => issues.push(CorsConfigIssue::InvalidHeaderName {
                value: value.clone(),
            }),
        }
    }
    if names.is_empty() {
        return None;
    }
    // Header names are tokens, so the joined list is always a valid value.
    HeaderValue::from_str(&names.join(", ")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CorsConfigIssue as I;

    fn issues(config: &CorsConfig) -> Vec<CorsConfigIssue> {
        Policy::compile(config).map_or_else(|e| e.issues().to_vec(), |_| Vec::new())
    }

    fn origins(list: &[&str]) -> CorsConfig {
        CorsConfig::new().allow_origins(list.iter().copied())
    }

    #[test]
    fn every_origin_rule() {
        assert_eq!(issues(&CorsConfig::new()), [I::NoOrigins]);
        assert_eq!(issues(&origins(&["null"])), [I::NullOrigin]);
        assert_eq!(issues(&origins(&["NULL"])), [I::NullOrigin]);
        assert_eq!(
            issues(&origins(&["*"]).allow_credentials(true)),
            [I::WildcardWithCredentials]
        );
        assert_eq!(
            issues(&origins(&["*", "https://a.example.com"])),
            [I::WildcardWithOrigins]
        );
        assert!(issues(&origins(&["*"])).is_empty());
        let cases = [
            ("https://example.com/api", OriginError::Path),
            ("https://example.com/", OriginError::TrailingSlash),
            ("https://example.com:443", OriginError::DefaultPort),
            ("https://Example.com", OriginError::UpperCase),
            ("https://bücher.example", OriginError::NonAsciiHost),
            ("example.com", OriginError::MissingScheme),
        ];
        for (value, reason) in cases {
            assert_eq!(
                issues(&origins(&[value])),
                [I::InvalidOrigin {
                    value: value.into(),
                    reason
                }],
                "{value}"
            );
        }
    }

    #[test]
    fn plain_http_with_credentials_only_on_loopback() {
        let creds = |list: &[&str]| origins(list).allow_credentials(true);
        assert!(
            issues(&creds(&[
                "http://localhost:5173",
                "http://127.0.0.1:3000",
                "http://[::1]:8080",
                "http://app.localhost",
                "http://localhost:*",
                "http://*.localhost",
            ]))
            .is_empty()
        );
        assert_eq!(
            issues(&creds(&["http://example.com", "http://*.example.com"])),
            [
                I::InsecureOriginWithCredentials {
                    value: "http://example.com".into()
                },
                I::InsecureOriginWithCredentials {
                    value: "http://*.example.com".into()
                },
            ]
        );
        assert!(issues(&creds(&["http://example.com"]).tolerate_insecure_origins(true)).is_empty());
        assert!(issues(&origins(&["http://example.com"])).is_empty());
    }

    #[test]
    fn patterns_under_public_suffixes() {
        for value in ["https://*.com", "https://*.github.io", "https://*.co.uk"] {
            let found = issues(&origins(&[value]));
            assert!(
                matches!(&found[..], [I::PublicSuffixPattern { .. }]),
                "{value}: {found:?}"
            );
            assert!(issues(&origins(&[value]).tolerate_public_suffix_patterns(true)).is_empty());
        }
        for ok in [
            "https://*.example.com",
            "https://*.example.co.uk",
            "http://*.localhost",
        ] {
            assert!(issues(&origins(&[ok])).is_empty(), "{ok}");
        }
        assert!(matches!(
            &issues(&origins(&["https://a.*.example.com"]))[..],
            [I::InvalidPattern { .. }]
        ));
    }

    #[test]
    fn methods_headers_expose_and_max_age() {
        let base = || origins(&["https://a.example.com"]);
        assert_eq!(
            issues(&base().allow_methods(["CONNECT", "trace", "TRACK", "PUT", "pAtch"])),
            [
                I::ForbiddenMethod {
                    value: "CONNECT".into()
                },
                I::ForbiddenMethod {
                    value: "trace".into()
                },
                I::ForbiddenMethod {
                    value: "TRACK".into()
                },
            ]
        );
        assert_eq!(
            issues(&base().allow_methods(["put", "GE T"])),
            [
                I::MethodCase {
                    value: "put".into(),
                    upper: "PUT".into()
                },
                I::InvalidMethod {
                    value: "GE T".into()
                },
            ]
        );
        assert_eq!(
            issues(&base().allow_headers([
                "Cookie",
                "sec-fetch-mode",
                "Proxy-Authorization",
                "x ok",
                "X-Token"
            ])),
            [
                I::ForbiddenRequestHeader {
                    value: "Cookie".into()
                },
                I::ForbiddenRequestHeader {
                    value: "sec-fetch-mode".into()
                },
                I::ForbiddenRequestHeader {
                    value: "Proxy-Authorization".into()
                },
                I::InvalidHeaderName {
                    value: "x ok".into()
                },
            ]
        );
        assert_eq!(
            issues(&base().expose_headers(["Set-Cookie", "x-request-id"])),
            [I::ForbiddenExposedHeader {
                value: "Set-Cookie".into()
            }]
        );
        assert_eq!(
            issues(&base().expose_headers(["*"]).allow_credentials(true)),
            [I::WildcardExposeWithCredentials]
        );
        assert_eq!(
            issues(&base().max_age(std::time::Duration::from_secs(86_401))),
            [I::MaxAgeTooLarge { secs: 86_401 }]
        );
        assert!(issues(&base().max_age(std::time::Duration::from_secs(86_400))).is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = CorsConfig::new()
            .allow_origins(["null", "https://x.com/", "https://*.com", "*"])
            .allow_credentials(true)
            .allow_methods(["TRACE"])
            .allow_headers(["host"])
            .expose_headers(["set-cookie"])
            .max_age(std::time::Duration::from_secs(100_000));
        let found = issues(&config);
        // `*` short-circuits the per-origin checks, so: wildcard+credentials,
        // wildcard+others, method, header, exposed header, max-age.
        assert_eq!(found.len(), 6, "{found:?}");
        let config = CorsConfig::new()
            .allow_origins(["null", "https://x.com/", "https://*.com"])
            .allow_methods(["TRACE"]);
        assert_eq!(issues(&config).len(), 4);
    }

    #[test]
    fn allowed_headers_match_any_case() {
        let policy = Policy::compile(
            &origins(&["https://a.example.com"]).allow_headers(["Authorization", "X-Token"]),
        )
        .unwrap();
        assert!(policy.headers.allows(b"authorization"));
        assert!(policy.headers.allows(b"X-TOKEN"));
        assert!(!policy.headers.allows(b"x-other"));
        let any =
            Policy::compile(&origins(&["https://a.example.com"]).allow_headers(["*"])).unwrap();
        assert!(any.headers.allows(b"x-other"));
        assert!(!any.headers.allows(b"Authorization"));
    }
}
