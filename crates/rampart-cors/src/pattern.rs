//! An origin pattern: subdomains of a host (`https://*.example.com`), any port
//! of a host (`http://localhost:*`), or both.

use std::{fmt, str::FromStr};

use crate::origin::{OriginError, Parts, Scheme};

/// Why a string is not an [`OriginPattern`].
///
/// ```
/// use rampart_cors::{OriginPattern, PatternError};
///
/// let err = "https://a.*.example.com".parse::<OriginPattern>().unwrap_err();
/// assert_eq!(err, PatternError::MisplacedWildcard);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The part around the wildcard is not a valid origin.
    #[error("{0}")]
    Origin(#[from] OriginError),
    /// `*` anywhere but as the whole first label or the whole port.
    #[error(
        "has a `*` that is not the whole first label (`*.example.com`) or the whole port (`:*`)"
    )]
    MisplacedWildcard,
    /// No wildcard at all: write it as an exact origin.
    #[error("has no wildcard")]
    NoWildcard,
    /// `*.` in front of an IP address.
    #[error("puts a subdomain wildcard in front of an IP address")]
    WildcardIpAddress,
}

/// A pattern that admits a family of origins, parsed and checked once.
///
/// * `https://*.example.com` admits `https://a.example.com` and
///   `https://a.b.example.com`, never `https://example.com` itself, and only
///   at a label boundary (not `https://evilexample.com`).
/// * `http://localhost:*` admits `http://localhost` on any port, the default one included.
/// * `https://*.example.com:*` combines both.
///
/// # Example
///
/// ```
/// use rampart_cors::OriginPattern;
///
/// let pattern: OriginPattern = "https://*.example.com".parse().unwrap();
/// assert!(pattern.matches("https://app.example.com"));
/// assert!(!pattern.matches("https://example.com"));
/// assert!(!pattern.matches("https://evil-example.com"));
/// assert!(!pattern.matches("http://app.example.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginPattern {
    source: Box<str>,
    scheme: Scheme,
    /// The host without the `*.` prefix.
    base: Box<str>,
    subdomains: bool,
    port: PortRule,
}

/// Which ports a pattern admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PortRule {
    /// Exactly this port; `None` is the scheme's default.
    Exact(Option<u16>),
    /// Any port, the default included.
    Any,
}

impl PortRule {
    pub(crate) fn admits(self, port: Option<u16>) -> bool {
        match self {
            Self::Exact(p) => p == port,
            Self::Any => true,
        }
    }
}

impl OriginPattern {
    /// Parses a pattern.
    ///
    /// ```
    /// use rampart_cors::OriginPattern;
    ///
    /// assert!(OriginPattern::parse("http://localhost:*").is_ok());
    /// assert!(OriginPattern::parse("https://*").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Self, PatternError> {
        let after_scheme = input.find("://").map_or("", |i| &input[i + 3..]);
        let allowed_stars =
            usize::from(after_scheme.starts_with("*.")) + usize::from(input.ends_with(":*"));
        if input.matches('*').count() != allowed_stars {
            return Err(PatternError::MisplacedWildcard);
        }
        let parts = Parts::parse(input.as_bytes(), true)?;
        let (base, subdomains) = match parts.host.strip_prefix("*.") {
            Some(base) => (base, true),
            None => (parts.host, false),
        };
        if !subdomains && !parts.any_port {
            return Err(PatternError::NoWildcard);
        }
        if subdomains && (base.starts_with('[') || base.parse::<std::net::Ipv4Addr>().is_ok()) {
            return Err(PatternError::WildcardIpAddress);
        }
        Ok(Self {
            source: input.into(),
            scheme: parts.scheme,
            base: base.into(),
            subdomains,
            port: if parts.any_port {
                PortRule::Any
            } else {
                PortRule::Exact(parts.port)
            },
        })
    }

    /// Whether `origin` (as sent in an `Origin` header) is admitted.
    /// Anything that is not a valid origin is not.
    ///
    /// This is the plain, one-pattern check; the middleware matches all its
    /// patterns at once in a label tree.
    pub fn matches(&self, origin: &str) -> bool {
        let Ok(parts) = Parts::parse(origin.as_bytes(), false) else {
            return false;
        };
        if parts.scheme != self.scheme || !self.port.admits(parts.port) {
            return false;
        }
        if !self.subdomains {
            return parts.host == &*self.base;
        }
        parts
            .host
            .strip_suffix(&*self.base)
            .and_then(|prefix| prefix.strip_suffix('.'))
            .is_some_and(|sub| !sub.is_empty())
    }

    /// The scheme the pattern admits.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host under the wildcard (`example.com` for `https://*.example.com`).
    pub fn base_host(&self) -> &str {
        &self.base
    }

    /// Whether the pattern admits subdomains (`*.`) rather than one host.
    pub fn admits_subdomains(&self) -> bool {
        self.subdomains
    }

    /// Whether the pattern admits any port (`:*`).
    pub fn admits_any_port(&self) -> bool {
        self.port == PortRule::Any
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub(crate) fn port_rule(&self) -> PortRule {
        self.port
    }
}

impl FromStr for OriginPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_pattern_is_label_bounded() {
        let p: OriginPattern = "https://*.example.com".parse().unwrap();
        for ok in [
            "https://a.example.com",
            "https://a.b.example.com",
            "https://x-1.example.com",
        ] {
            assert!(p.matches(ok), "{ok}");
        }
        for bad in [
            "https://example.com",
            "https://.example.com",
            "https://evil-example.com",
            "https://evilexample.com",
            "https://example.com.evil.com",
            "https://a.example.com.evil.com",
            "https://example.com@evil.com",
            "https://a.example.com@evil.com",
            "https://exampleXcom",
            "https://a.exampleXcom",
            "http://a.example.com",
            "https://a.example.com:8443",
            "https://A.example.com",
            "https://a.example.com/",
            "null",
            "",
        ] {
            assert!(!p.matches(bad), "{bad}");
        }
    }

    #[test]
    fn port_pattern() {
        let p: OriginPattern = "http://localhost:*".parse().unwrap();
        assert!(p.matches("http://localhost:5173"));
        assert!(p.matches("http://localhost"));
        assert!(!p.matches("http://a.localhost:5173"));
        assert!(!p.matches("https://localhost:5173"));
        assert!(!p.matches("http://localhost.evil.com:5173"));
        assert!(p.admits_any_port() && !p.admits_subdomains());
    }

    #[test]
    fn both_wildcards() {
        let p: OriginPattern = "https://*.example.com:*".parse().unwrap();
        assert!(p.matches("https://a.example.com:8443"));
        assert!(p.matches("https://a.example.com"));
        assert!(!p.matches("https://example.com:8443"));
    }

    #[test]
    fn exact_port_on_subdomains() {
        let p: OriginPattern = "https://*.example.com:8443".parse().unwrap();
        assert!(p.matches("https://a.example.com:8443"));
        assert!(!p.matches("https://a.example.com"));
    }

    #[test]
    fn refuses_bad_patterns() {
        use PatternError::*;
        let err = |s: &str| s.parse::<OriginPattern>().unwrap_err();
        assert_eq!(err("https://a.*.example.com"), MisplacedWildcard);
        assert_eq!(err("https://*example.com"), MisplacedWildcard);
        assert_eq!(err("https://ex*.com"), MisplacedWildcard);
        assert_eq!(err("https://*.*.example.com"), MisplacedWildcard);
        assert_eq!(err("https://example.com"), NoWildcard);
        assert_eq!(err("https://*.127.0.0.1"), WildcardIpAddress);
        assert_eq!(
            err("https://*.example.com/"),
            Origin(OriginError::TrailingSlash)
        );
        assert_eq!(err("https://*.Example.com"), Origin(OriginError::UpperCase));
        assert_eq!(
            err("https://*.example.com:443"),
            Origin(OriginError::DefaultPort)
        );
        assert_eq!(err("https://example.com:8*"), MisplacedWildcard);
        assert_eq!(err("https://*"), MisplacedWildcard);
        assert_eq!(err("*"), MisplacedWildcard);
        assert_eq!(err("https://*.:*"), Origin(OriginError::InvalidHost));
    }
}
