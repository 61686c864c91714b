//! A web origin (`scheme://host[:port]`) in the exact form a browser sends
//! it in the `Origin` header, and the parser that accepts nothing else.
//!
//! Hand-written rather than built on the `url` crate: `url` *normalizes*
//! (lower-cases, drops default ports, converts IDNs), while an allow-list
//! must *refuse* any spelling that a browser would never send, because a
//! byte-exact comparison against a non-canonical entry silently never matches.

use std::{fmt, net::Ipv6Addr, str::FromStr};

/// The scheme of an [`Origin`]: CORS allow-lists only hold `http` and `https`.
///
/// ```
/// use rampart_cors::{Origin, Scheme};
///
/// let origin: Origin = "https://app.example.com".parse().unwrap();
/// assert_eq!(origin.scheme(), Scheme::Https);
/// assert_eq!(Scheme::Http.default_port(), 80);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`
    Http,
    /// `https`
    Https,
}

impl Scheme {
    /// The port a browser leaves out of the origin for this scheme.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Why a string is not an origin in the form a browser sends.
///
/// ```
/// use rampart_cors::{Origin, OriginError};
///
/// let err = "https://example.com/".parse::<Origin>().unwrap_err();
/// assert_eq!(err, OriginError::TrailingSlash);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// The string is empty.
    #[error("is empty")]
    Empty,
    /// `null`: sandboxed documents, `file:` pages and redirects all send it,
    /// so allowing it allows them all.
    #[error("is `null`, which any sandboxed iframe or local file can send")]
    Null,
    /// No `scheme://` prefix.
    #[error("has no `http://` or `https://` scheme")]
    MissingScheme,
    /// A scheme other than `http` and `https`.
    #[error("has a scheme other than http or https")]
    UnsupportedScheme,
    /// Upper-case letters: browsers send origins in lower case.
    #[error("has upper-case letters; browsers send origins in lower case")]
    UpperCase,
    /// `user@` before the host.
    #[error("has user information (`@`)")]
    Userinfo,
    /// A path, query or fragment after the host.
    #[error("has a path, query or fragment; an origin ends after the host and port")]
    Path,
    /// A `/` after the host: an origin has none.
    #[error("has a trailing slash")]
    TrailingSlash,
    /// `:80` on `http` or `:443` on `https`: browsers leave it out.
    #[error("names the scheme's default port, which browsers leave out")]
    DefaultPort,
    /// A port that is empty, not a number, zero, has leading zeros or is over 65535.
    #[error("has an invalid port")]
    InvalidPort,
    /// Characters outside ASCII: browsers send the punycode (`xn--`) form.
    #[error("has a non-ASCII host; write it in punycode (xn--...)")]
    NonAsciiHost,
    /// A host that is empty, has empty labels, invalid characters, or an IP
    /// address not in its canonical form.
    #[error("has an invalid host")]
    InvalidHost,
    /// A `*`: only an [`OriginPattern`](crate::OriginPattern) may hold one.
    #[error("has a wildcard; write it as a pattern (`https://*.example.com`)")]
    Wildcard,
}

/// A web origin in the exact serialization a browser sends in `Origin`:
/// `http` or `https`, a lower-case ASCII host (punycode for IDNs, canonical IP
/// literals), and a port only when it is not the scheme's default.
///
/// Parsing is the validation: a value of this type cannot hold a path, a
/// trailing slash, upper case, `null` or a default port.
///
/// # Example
///
/// ```
/// use rampart_cors::Origin;
///
/// let origin: Origin = "http://localhost:5173".parse().unwrap();
/// assert_eq!(origin.host(), "localhost");
/// assert_eq!(origin.port(), Some(5173));
/// assert_eq!(origin.to_string(), "http://localhost:5173");
///
/// assert!("https://Example.com".parse::<Origin>().is_err());
/// assert!("https://example.com:443".parse::<Origin>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    serialized: Box<str>,
    scheme: Scheme,
    host_start: usize,
    host_end: usize,
    port: Option<u16>,
}

impl Origin {
    /// Parses an origin from the bytes of an `Origin` header or a
    /// configuration entry.
    ///
    /// ```
    /// use rampart_cors::Origin;
    ///
    /// assert!(Origin::parse(b"https://a.example.com").is_ok());
    /// assert!(Origin::parse(b"https://example.com@evil.com").is_err());
    /// ```
    pub fn parse(input: &[u8]) -> Result<Self, OriginError> {
        let parts = Parts::parse(input, false)?;
        // Only ASCII passed `Parts::parse`, so this conversion cannot fail.
        let serialized: Box<str> = std::str::from_utf8(input)
            .map_err(|_| OriginError::NonAsciiHost)?
            .into();
        let host_start = parts.scheme.as_str().len() + 3;
        Ok(Self {
            scheme: parts.scheme,
            host_start,
            host_end: host_start + parts.host.len(),
            port: parts.port,
            serialized,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host: a domain, a dotted IPv4 address, or a bracketed IPv6 address.
    pub fn host(&self) -> &str {
        &self.serialized[self.host_start..self.host_end]
    }

    /// The port, when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The origin as a browser writes it.
    pub fn as_str(&self) -> &str {
        &self.serialized
    }

    /// Whether a browser treats this origin as potentially trustworthy even
    /// over `http`: `localhost`, `*.localhost`, `127.0.0.0/8` and `[::1]`.
    ///
    /// ```
    /// use rampart_cors::Origin;
    ///
    /// let origin: Origin = "http://127.0.0.1:8080".parse().unwrap();
    /// assert!(origin.is_loopback());
    /// ```
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host())
    }
}

impl FromStr for Origin {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialized)
    }
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The pieces of an origin or pattern, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub(crate) scheme: Scheme,
    /// The host as written; with `allow_wildcards`, may start with `*.`.
    pub(crate) host: &'a str,
    /// `None` for the default port.
    pub(crate) port: Option<u16>,
    /// `:*` (only with `allow_wildcards`).
    pub(crate) any_port: bool,
}

impl<'a> Parts<'a> {
    /// Splits and checks `scheme://host[:port]`. With `allow_wildcards`, a
    /// leading `*.` label and a `:*` port are left for the pattern parser.
    pub(crate) fn parse(input: &'a [u8], allow_wildcards: bool) -> Result<Self, OriginError> {
        if input.is_empty() {
            return Err(OriginError::Empty);
        }
        if input.eq_ignore_ascii_case(b"null") {
            return Err(OriginError::Null);
        }
        let (scheme, rest) = split_scheme(input)?;
        if let Some(i) = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#')) {
            return Err(if rest[i] == b'/' && i + 1 == rest.len() {
                OriginError::TrailingSlash
            } else {
                OriginError::Path
            });
        }
        if rest.contains(&b'@') {
            return Err(OriginError::Userinfo);
        }
        if !rest.is_ascii() {
            return Err(OriginError::NonAsciiHost);
        }
        if rest.iter().any(u8::is_ascii_uppercase) {
            return Err(OriginError::UpperCase);
        }
        if !allow_wildcards && rest.contains(&b'*') {
            return Err(OriginError::Wildcard);
        }
        // Checked ASCII above.
        let rest = std::str::from_utf8(rest).map_err(|_| OriginError::NonAsciiHost)?;
        let (host, port_str) = split_port(rest)?;
        let (port, any_port) = match port_str {
            None => (None, false),
            Some("*") if allow_wildcards => (None, true),
            Some(p) => (Some(parse_port(p, scheme)?), false),
        };
        let name = if allow_wildcards {
            host.strip_prefix("*.").unwrap_or(host)
        } else {
            host
        };
        check_host(name)?;
        Ok(Self {
            scheme,
            host,
            port,
            any_port,
        })
    }
}

fn split_scheme(input: &[u8]) -> Result<(Scheme, &[u8]), OriginError> {
    let Some(sep) = input.windows(3).position(|w| w == b"://") else {
        return Err(OriginError::MissingScheme);
    };
    let (scheme, rest) = (&input[..sep], &input[sep + 3..]);
    let parsed = match scheme {
        b"http" => Scheme::Http,
        b"https" => Scheme::Https,
        s if s.eq_ignore_ascii_case(b"http") || s.eq_ignore_ascii_case(b"https") => {
            return Err(OriginError::UpperCase);
        }
        _ => return Err(OriginError::UnsupportedScheme),
    };
    Ok((parsed, rest))
}

fn split_port(rest: &str) -> Result<(&str, Option<&str>), OriginError> {
    if let Some(after_bracket) = rest.strip_prefix('[') {
        let Some(close) = after_bracket.find(']') else {
            return Err(OriginError::InvalidHost);
        };
        let host = &rest[..close + 2];
        let tail = &rest[close + 2..];
        return match tail.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if tail.is_empty() => Ok((host, None)),
            None => Err(OriginError::InvalidHost),
        };
    }
    Ok(match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    })
}

fn parse_port(port: &str, scheme: Scheme) -> Result<u16, OriginError> {
    let valid_digits = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && !port.starts_with('0');
    let value = valid_digits
        .then(|| port.parse::<u16>().ok())
        .flatten()
        .ok_or(OriginError::InvalidPort)?;
    if value == scheme.default_port() {
        return Err(OriginError::DefaultPort);
    }
    Ok(value)
}

fn check_host(host: &str) -> Result<(), OriginError> {
    if host.is_empty() || host.len() > 253 {
        return Err(OriginError::InvalidHost);
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(OriginError::InvalidHost)?;
        // Browsers serialize IPv6 compressed and lower case (RFC 5952), as
        // `Ipv6Addr`'s `Display` does: anything else would never match.
        let ip: Ipv6Addr = inner.parse().map_err(|_| OriginError::InvalidHost)?;
        return if ip.to_string() == inner {
            Ok(())
        } else {
            Err(OriginError::InvalidHost)
        };
    }
    let mut last_label = "";
    for label in host.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(OriginError::InvalidHost);
        }
        last_label = label;
    }
    // The URL standard parses a host whose last label is numeric as IPv4 and
    // re-serializes it (`1.2.3` becomes `1.2.0.3`): accept only the canonical form.
    if last_label.bytes().all(|b| b.is_ascii_digit()) {
        let ip: std::net::Ipv4Addr = host.parse().map_err(|_| OriginError::InvalidHost)?;
        if ip.to_string() != host {
            return Err(OriginError::InvalidHost);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> OriginError {
        s.parse::<Origin>().unwrap_err()
    }

    #[test]
    fn accepts_what_browsers_send() {
        for ok in [
            "https://example.com",
            "http://localhost:5173",
            "https://a.b.example.com:8443",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
            "https://xn--bcher-kva.example",
            "https://my_host.example.com",
            "https://example.com:1",
            "https://example.com:65535",
        ] {
            let origin: Origin = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(origin.as_str(), ok);
        }
    }

    #[test]
    fn parts_are_exposed() {
        let origin: Origin = "http://[::1]:8080".parse().unwrap();
        assert_eq!(origin.scheme(), Scheme::Http);
        assert_eq!(origin.host(), "[::1]");
        assert_eq!(origin.port(), Some(8080));
        let origin: Origin = "https://example.com".parse().unwrap();
        assert_eq!(origin.port(), None);
        assert_eq!(origin.host(), "example.com");
    }

    #[test]
    fn refuses_every_non_browser_spelling() {
        assert_eq!(err(""), OriginError::Empty);
        assert_eq!(err("null"), OriginError::Null);
        assert_eq!(err("NULL"), OriginError::Null);
        assert_eq!(err("example.com"), OriginError::MissingScheme);
        assert_eq!(err("ftp://example.com"), OriginError::UnsupportedScheme);
        assert_eq!(err("HTTPS://example.com"), OriginError::UpperCase);
        assert_eq!(err("https://Example.com"), OriginError::UpperCase);
        assert_eq!(err("https://example.com/"), OriginError::TrailingSlash);
        assert_eq!(err("https://example.com/app"), OriginError::Path);
        assert_eq!(err("https://example.com?x"), OriginError::Path);
        assert_eq!(err("https://example.com#x"), OriginError::Path);
        assert_eq!(err("https://example.com@evil.com"), OriginError::Userinfo);
        assert_eq!(err("https://example.com:443"), OriginError::DefaultPort);
        assert_eq!(err("http://example.com:80"), OriginError::DefaultPort);
        assert_eq!(err("https://example.com:"), OriginError::InvalidPort);
        assert_eq!(err("https://example.com:0"), OriginError::InvalidPort);
        assert_eq!(err("https://example.com:08080"), OriginError::InvalidPort);
        assert_eq!(err("https://example.com:65536"), OriginError::InvalidPort);
        assert_eq!(err("https://example.com:x"), OriginError::InvalidPort);
        assert_eq!(err("https://bücher.example"), OriginError::NonAsciiHost);
        assert_eq!(err("https://*.example.com"), OriginError::Wildcard);
        assert_eq!(err("*"), OriginError::MissingScheme);
        for bad in [
            "https://",
            "https://.example.com",
            "https://example..com",
            "https://example.com.",
            "https://exa mple.com",
            "https://1.2.3",
            "https://01.2.3.4",
            "https://256.1.1.1",
            "http://[::1",
            "http://[0:0:0:0:0:0:0:1]",
            "http://[::1]x",
            "https://example.com:1:2",
        ] {
            assert!(
                matches!(
                    err(bad),
                    OriginError::InvalidHost | OriginError::InvalidPort
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "http://localhost",
            "http://a.localhost:1",
            "http://127.9.9.9",
            "http://[::1]",
        ] {
            assert!(host.parse::<Origin>().unwrap().is_loopback(), "{host}");
        }
        for host in [
            "http://localhost.example.com",
            "http://128.0.0.1",
            "http://example.com",
        ] {
            assert!(!host.parse::<Origin>().unwrap().is_loopback(), "{host}");
        }
    }
}
