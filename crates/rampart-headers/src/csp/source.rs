//! The sources of a CSP source list: keywords, nonces, hashes, schemes, hosts.

use std::{borrow::Cow, fmt};

use super::CspError;

/// One entry of a CSP source list ([CSP Level 3 §2.3.1]).
///
/// Keywords are variants, so they are always written quoted; hosts and
/// schemes are checked when the policy is built (an unquoted `self` is
/// refused with a hint, not sent as a host named "self").
///
/// # Example
///
/// ```
/// use rampart_headers::csp::{HashAlgorithm, Source};
///
/// assert_eq!(Source::SelfOrigin.to_string(), "'self'");
/// assert_eq!(Source::host("https://cdn.example.com").to_string(), "https://cdn.example.com");
/// assert_eq!(Source::scheme("data").to_string(), "data:");
/// assert_eq!(Source::Nonce.to_string(), "'nonce'"); // a fresh nonce per request
/// let h = Source::hash(HashAlgorithm::Sha256, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
/// assert_eq!(h.to_string(), "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='");
/// ```
///
/// [CSP Level 3 §2.3.1]: https://www.w3.org/TR/CSP3/#framework-directive-source-list
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// `'self'`: the page's own origin.
    SelfOrigin,
    /// `'none'`: nothing at all; only valid alone.
    None,
    /// `'unsafe-inline'`: inline scripts or styles. Refused beside a nonce or hash.
    UnsafeInline,
    /// `'unsafe-eval'`: `eval()` and friends.
    UnsafeEval,
    /// `'unsafe-hashes'`: hashes also allow event-handler attributes.
    UnsafeHashes,
    /// `'wasm-unsafe-eval'`: WebAssembly compilation, without `eval()`.
    WasmUnsafeEval,
    /// `'strict-dynamic'`: scripts a nonced script loads are trusted too.
    StrictDynamic,
    /// `'report-sample'`: violation reports carry the first 40 characters of the blocked code.
    ReportSample,
    /// A fresh nonce for every response, written `'nonce-<base64>'` in the
    /// header and handed to the handler as a [`CspNonce`](super::CspNonce).
    /// Written `'nonce'` when a policy is printed or parsed as text.
    Nonce,
    /// `'sha256-…'` and friends: an inline script or style with this digest.
    Hash(HashAlgorithm, Cow<'static, str>),
    /// `https:`, `data:`, `blob:`...: any URL of this scheme.
    Scheme(Cow<'static, str>),
    /// `https://cdn.example.com`, `*.example.com`, `api.example.com:8443/v1/`.
    Host(Cow<'static, str>),
}

/// The digest of a [`Source::Hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (44 base64 characters).
    Sha256,
    /// SHA-384 (64 base64 characters).
    Sha384,
    /// SHA-512 (88 base64 characters).
    Sha512,
}

impl HashAlgorithm {
    /// The prefix written in the source: `sha256`, `sha384`, `sha512`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    const fn base64_len(self) -> usize {
        match self {
            Self::Sha256 => 44,
            Self::Sha384 => 64,
            Self::Sha512 => 88,
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// Keywords in the order they are checked when parsing.
const KEYWORDS: [(&str, Source); 8] = [
    ("self", Source::SelfOrigin),
    ("none", Source::None),
    ("unsafe-inline", Source::UnsafeInline),
    ("unsafe-eval", Source::UnsafeEval),
    ("unsafe-hashes", Source::UnsafeHashes),
    ("wasm-unsafe-eval", Source::WasmUnsafeEval),
    ("strict-dynamic", Source::StrictDynamic),
    ("report-sample", Source::ReportSample),
];

impl Source {
    /// A host source such as `https://cdn.example.com` or `*.example.com`,
    /// checked when the policy is built.
    pub fn host(host: impl Into<Cow<'static, str>>) -> Self {
        Self::Host(host.into())
    }

    /// A scheme source; a trailing `:` is optional (`"https"` and `"https:"` are the same).
    pub fn scheme(scheme: impl Into<Cow<'static, str>>) -> Self {
        let scheme: Cow<'static, str> = scheme.into();
        match scheme.strip_suffix(':') {
            Some(bare) => Self::Scheme(Cow::Owned(bare.to_owned())),
            None => Self::Scheme(scheme),
        }
    }

    /// A hash source: the base64 digest of an inline script or style.
    pub fn hash(algorithm: HashAlgorithm, base64: impl Into<Cow<'static, str>>) -> Self {
        Self::Hash(algorithm, base64.into())
    }

    /// Whether this is a keyword, nonce or hash that only script and style
    /// directives understand.
    pub(crate) fn is_script_keyword(&self) -> bool {
        matches!(
            self,
            Self::UnsafeInline
                | Self::UnsafeEval
                | Self::UnsafeHashes
                | Self::WasmUnsafeEval
                | Self::StrictDynamic
                | Self::ReportSample
                | Self::Nonce
                | Self::Hash(..)
        )
    }

    /// Checks hosts, schemes and hashes.
    pub(crate) fn validate(&self) -> Result<(), CspError> {
        let invalid = |reason: &'static str| CspError::InvalidSource {
            value: self.to_string(),
            reason,
        };
        match self {
            Self::Hash(algorithm, digest) => {
                let ok =
                    digest.len() == algorithm.base64_len() && is_base64_value(digest.as_bytes());
                if !ok {
                    return Err(invalid("not a base64 digest of the right length"));
                }
            }
            Self::Scheme(scheme) if !is_scheme(scheme) => {
                return Err(invalid("not a URL scheme such as https or data"));
            }
            Self::Host(host) => {
                // Browsers would read an unquoted keyword as a host name.
                let keyword = KEYWORDS
                    .iter()
                    .map(|(name, _)| *name)
                    .chain(["nonce"])
                    .find(|name| name.eq_ignore_ascii_case(host));
                if let Some(keyword) = keyword {
                    return Err(CspError::UnquotedKeyword {
                        keyword: keyword.to_owned(),
                    });
                }
                validate_host(host).map_err(invalid)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Parses one source as written in a policy. `'nonce'` is the
    /// per-request nonce; a fixed `'nonce-…'` is refused.
    pub(crate) fn parse(token: &str) -> Result<Self, CspError> {
        if let Some(inner) = token.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
            if let Some((_, source)) = KEYWORDS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(inner))
            {
                return Ok(source.clone());
            }
            if inner.eq_ignore_ascii_case("nonce") {
                return Ok(Self::Nonce);
            }
            if inner.len() >= 6 && inner[..6].eq_ignore_ascii_case("nonce-") {
                return Err(CspError::FixedNonce);
            }
            if let Some((algorithm, digest)) = inner.split_once('-') {
                if let Some(algorithm) = HashAlgorithm::from_name(algorithm) {
                    let source = Self::hash(algorithm, digest.to_owned());
                    source.validate()?;
                    return Ok(source);
                }
            }
            return Err(CspError::InvalidSource {
                value: token.to_owned(),
                reason: "not a CSP keyword, nonce or hash",
            });
        }
        let source = match token.strip_suffix(':') {
            Some(scheme) if is_scheme(scheme) => Self::Scheme(Cow::Owned(scheme.to_owned())),
            _ => Self::Host(Cow::Owned(token.to_owned())),
        };
        source.validate()?;
        Ok(source)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SelfOrigin => f.write_str("'self'"),
            Self::None => f.write_str("'none'"),
            Self::UnsafeInline => f.write_str("'unsafe-inline'"),
            Self::UnsafeEval => f.write_str("'unsafe-eval'"),
            Self::UnsafeHashes => f.write_str("'unsafe-hashes'"),
            Self::WasmUnsafeEval => f.write_str("'wasm-unsafe-eval'"),
            Self::StrictDynamic => f.write_str("'strict-dynamic'"),
            Self::ReportSample => f.write_str("'report-sample'"),
            Self::Nonce => f.write_str("'nonce'"),
            Self::Hash(algorithm, digest) => write!(f, "'{}-{digest}'", algorithm.name()),
            Self::Scheme(scheme) => write!(f, "{scheme}:"),
            Self::Host(host) => f.write_str(host),
        }
    }
}

fn is_base64_value(bytes: &[u8]) -> bool {
    let body = bytes
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(&bytes[..0], |end| &bytes[..=end]);
    let padding = bytes.len() - body.len();
    !body.is_empty()
        && padding <= 2
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `[scheme "://"] host [":" port] [path]` ([CSP3 host-source]). Hand-written:
/// the `url` crate parses URLs, not CSP host patterns with `*.` and `:*`.
///
/// [CSP3 host-source]: https://www.w3.org/TR/CSP3/#grammardef-host-source
fn validate_host(source: &str) -> Result<(), &'static str> {
    let rest = match source.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        Some(_) => return Err("the scheme before :// is not a URL scheme"),
        None => source,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let labels = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = host == "*"
        || (!labels.is_empty()
            && labels.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    if !host_ok {
        return Err("not a host such as example.com, *.example.com or *");
    }
    if let Some(port) = port {
        let port_ok = port == "*"
            || (!port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()));
        if !port_ok {
            return Err("the port is not a number or *");
        }
    }
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'));
    if !path_ok {
        return Err("the path holds a space, quote, ';' or ','");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_pass() {
        for ok in [
            "example.com",
            "*.example.com",
            "*",
            "https://cdn.example.com",
            "wss://ws.example.com:443",
            "api.example.com:*",
            "127.0.0.1:8080",
            "https://example.com/static/",
        ] {
            assert!(Source::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn hosts_that_fail() {
        for bad in [
            "",
            "exa mple.com",
            "example..com",
            "*example.com",
            "https://",
            "ex_ample.com",
            "example.com:80a",
            "example.com:123456",
            "1ttp://example.com",
            "example.com/a;b",
            "ex\u{e9}.com",
        ] {
            assert!(Source::host(bad.to_owned()).validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unquoted_keywords_get_a_hint() {
        let err = Source::host("self").validate().unwrap_err();
        assert_eq!(
            err,
            CspError::UnquotedKeyword {
                keyword: "self".into()
            }
        );
        assert!(err.to_string().contains("'self'"));
    }

    #[test]
    fn quoted_tokens() {
        assert_eq!(Source::parse("'SELF'").unwrap(), Source::SelfOrigin);
        assert_eq!(Source::parse("'nonce'").unwrap(), Source::Nonce);
        assert_eq!(Source::parse("'nonce-abc'"), Err(CspError::FixedNonce));
        assert!(Source::parse("'sha256-abc'").is_err());
        assert!(Source::parse("'bogus'").is_err());
        assert_eq!(
            Source::parse("https:").unwrap(),
            Source::Scheme("https".into())
        );
        assert_eq!(Source::scheme("data:"), Source::Scheme("data".into()));
    }
}
