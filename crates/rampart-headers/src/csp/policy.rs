//! The policy builder and the built, validated policy.

use std::{borrow::Cow, fmt};

use http::{HeaderName, HeaderValue, header};

use super::{CspError, CspNonce, Directive, SandboxFlag, Source, directive::ValueKind};

/// The value of one directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Sources(Vec<Source>),
    Sandbox(Vec<SandboxFlag>),
    Flag,
    Uris(Vec<Cow<'static, str>>),
    Token(Cow<'static, str>),
}

/// Builds a [`ContentSecurityPolicy`]: directives in the order given, each
/// checked when [`build`](CspBuilder::build) is called.
///
/// Setting a directive that is already set replaces it, so a preset can be
/// tightened or loosened with [`ContentSecurityPolicy::to_builder`].
///
/// # Example
///
/// ```
/// use rampart_headers::csp::{ContentSecurityPolicy, Directive, Source};
///
/// let csp = ContentSecurityPolicy::builder()
///     .directive(Directive::DefaultSrc, [Source::SelfOrigin])
///     .directive(Directive::ScriptSrc, [Source::Nonce, Source::StrictDynamic])
///     .directive(Directive::ObjectSrc, [Source::None])
///     .upgrade_insecure_requests()
///     .report_uri("/csp-report")
///     .build()?;
/// assert_eq!(
///     csp.to_string(),
///     "default-src 'self'; script-src 'nonce' 'strict-dynamic'; object-src 'none'; \
///      upgrade-insecure-requests; report-uri /csp-report"
/// );
/// assert!(csp.needs_nonce());
/// # Ok::<(), rampart_headers::csp::CspError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct CspBuilder {
    pub(super) directives: Vec<(Directive, Value)>,
    report_only: bool,
    endpoints: Vec<(String, String)>,
}

impl CspBuilder {
    fn set(mut self, directive: Directive, value: Value) -> Self {
        match self.directives.iter_mut().find(|(d, _)| *d == directive) {
            Some(slot) => slot.1 = value,
            None => self.directives.push((directive, value)),
        }
        self
    }

    /// Sets a source-list directive (`default-src`, `script-src`, `frame-ancestors`, ...).
    pub fn directive(
        self,
        directive: Directive,
        sources: impl IntoIterator<Item = Source>,
    ) -> Self {
        self.set(directive, Value::Sources(sources.into_iter().collect()))
    }

    /// Removes a directive, if set.
    pub fn remove(mut self, directive: Directive) -> Self {
        self.directives.retain(|(d, _)| *d != directive);
        self
    }

    /// Sets [`sandbox`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy/sandbox)
    /// with these flags; none at all is the strictest sandbox.
    pub fn sandbox(self, flags: impl IntoIterator<Item = SandboxFlag>) -> Self {
        self.set(
            Directive::Sandbox,
            Value::Sandbox(flags.into_iter().collect()),
        )
    }

    /// Sets [`upgrade-insecure-requests`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy/upgrade-insecure-requests).
    pub fn upgrade_insecure_requests(self) -> Self {
        self.set(Directive::UpgradeInsecureRequests, Value::Flag)
    }

    /// Adds a [`report-uri`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy/report-uri):
    /// browsers POST `application/csp-report` documents there.
    pub fn report_uri(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        let uri = uri.into();
        match self
            .directives
            .iter_mut()
            .find(|(d, _)| *d == Directive::ReportUri)
        {
            Some((_, Value::Uris(uris))) => uris.push(uri),
            _ => self = self.set(Directive::ReportUri, Value::Uris(vec![uri])),
        }
        self
    }

    /// Sets [`report-to`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy/report-to):
    /// the name of a `Reporting-Endpoints` group, which browsers POST
    /// `application/reports+json` documents to. Define the group with
    /// [`reporting_endpoint`](Self::reporting_endpoint).
    pub fn report_to(self, group: impl Into<Cow<'static, str>>) -> Self {
        self.set(Directive::ReportTo, Value::Token(group.into()))
    }

    /// Adds an entry to the [`Reporting-Endpoints`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Reporting-Endpoints)
    /// header sent beside the policy: `name="url"`.
    pub fn reporting_endpoint(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.endpoints.push((name.into(), url.into()));
        self
    }

    /// Sends the policy as `Content-Security-Policy-Report-Only`: violations
    /// are reported, nothing is blocked. Needs `report-uri` or `report-to`.
    pub fn report_only(mut self, report_only: bool) -> Self {
        self.report_only = report_only;
        self
    }

    /// Renders a policy made of constants this crate's tests validate (the
    /// presets), without a fallible path.
    pub(crate) fn build_trusted(self) -> ContentSecurityPolicy {
        let endpoints = reporting_endpoints(&self.endpoints).ok().flatten();
        let parts = render(&self.directives, Render::Header);
        let static_value = match parts.len() {
            1 => Some(
                header_value(&parts[0]).unwrap_or(HeaderValue::from_static("default-src 'none'")),
            ),
            _ => None,
        };
        ContentSecurityPolicy {
            directives: self.directives,
            report_only: self.report_only,
            endpoint_list: self.endpoints,
            endpoints,
            parts: parts.into_iter().map(String::into_boxed_str).collect(),
            static_value,
        }
    }

    /// Checks every directive and renders the header once.
    pub fn build(self) -> Result<ContentSecurityPolicy, CspError> {
        if self.directives.is_empty() {
            return Err(CspError::EmptyPolicy);
        }
        for (directive, value) in &self.directives {
            validate(*directive, value)?;
        }
        let has_reporting = self
            .directives
            .iter()
            .any(|(d, _)| matches!(d, Directive::ReportUri | Directive::ReportTo));
        if self.report_only && !has_reporting {
            return Err(CspError::ReportOnlyWithoutReporting);
        }
        reporting_endpoints(&self.endpoints)?;
        let text = render(&self.directives, Render::Text).concat();
        header_value(&text)?;
        Ok(self.build_trusted())
    }
}

fn header_value(text: &str) -> Result<HeaderValue, CspError> {
    HeaderValue::from_str(text).map_err(|_| CspError::InvalidSource {
        value: text.to_owned(),
        reason: "not a valid header value",
    })
}

fn validate(directive: Directive, value: &Value) -> Result<(), CspError> {
    match (directive.value_kind(), value) {
        (ValueKind::Sources, Value::Sources(sources)) => {
            if sources.is_empty() {
                return Err(CspError::EmptyDirective { directive });
            }
            if sources.len() > 1 && sources.contains(&Source::None) {
                return Err(CspError::NoneWithOtherSources { directive });
            }
            for source in sources {
                source.validate()?;
                if source.is_script_keyword() && !directive.takes_script_keywords() {
                    return Err(CspError::NotAllowedIn {
                        value: source.to_string(),
                        directive,
                    });
                }
            }
            let nonce_or_hash = sources
                .iter()
                .any(|s| matches!(s, Source::Nonce | Source::Hash(..)));
            if nonce_or_hash && sources.contains(&Source::UnsafeInline) {
                return Err(CspError::UnsafeInlineWithNonce { directive });
            }
        }
        (ValueKind::SandboxFlags, Value::Sandbox(_)) | (ValueKind::Flag, Value::Flag) => {}
        (ValueKind::Uris, Value::Uris(uris)) => {
            if uris.is_empty() {
                return Err(CspError::EmptyDirective { directive });
            }
            for uri in uris {
                let ok = !uri.is_empty()
                    && uri
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'));
                if !ok {
                    return Err(CspError::InvalidReportUri {
                        uri: uri.to_string(),
                    });
                }
            }
        }
        (ValueKind::Token, Value::Token(group)) => {
            if group.is_empty() || !group.bytes().all(is_tchar) {
                return Err(CspError::InvalidReportTo {
                    group: group.to_string(),
                });
            }
        }
        _ => return Err(CspError::UnexpectedValue { directive }),
    }
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn reporting_endpoints(endpoints: &[(String, String)]) -> Result<Option<HeaderValue>, CspError> {
    if endpoints.is_empty() {
        return Ok(None);
    }
    let mut text = String::new();
    for (name, url) in endpoints {
        let name_ok = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
            && name.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'-' | b'.' | b'*')
            });
        let url_ok = !url.is_empty()
            && url
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\'));
        if !name_ok || !url_ok {
            return Err(CspError::InvalidReportingEndpoint {
                name: name.clone(),
                url: url.clone(),
            });
        }
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(name);
        text.push_str("=\"");
        text.push_str(url);
        text.push('"');
    }
    header_value(&text).map(Some)
}

#[derive(Clone, Copy, PartialEq)]
enum Render {
    /// Split around each nonce, without the nonce's own characters.
    Header,
    /// One string, nonces written `'nonce'`.
    Text,
}

fn render(directives: &[(Directive, Value)], mode: Render) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for (i, (directive, value)) in directives.iter().enumerate() {
        if i > 0 {
            current.push_str("; ");
        }
        current.push_str(directive.name());
        let word = |current: &mut String, w: &dyn fmt::Display| {
            use fmt::Write;
            // Writing into a String cannot fail.
            let _ = write!(current, " {w}");
        };
        match value {
            Value::Sources(sources) => {
                for source in sources {
                    if *source == Source::Nonce && mode == Render::Header {
                        current.push_str(" 'nonce-");
                        parts.push(std::mem::take(&mut current));
                        current.push('\'');
                    } else {
                        word(&mut current, source);
                    }
                }
            }
            Value::Sandbox(flags) => flags.iter().for_each(|f| word(&mut current, &f.name())),
            Value::Flag => {}
            Value::Uris(uris) => uris.iter().for_each(|u| word(&mut current, u)),
            Value::Token(group) => word(&mut current, group),
        }
    }
    parts.push(current);
    parts
}

/// A validated Content Security Policy, rendered once.
///
/// Made with [`ContentSecurityPolicy::builder`] or parsed from its text form
/// (where `'nonce'` stands for the per-request nonce). When the policy holds
/// [`Source::Nonce`], [`SecurityHeaders`](crate::SecurityHeaders) makes a
/// fresh nonce for every request and writes it into the header; otherwise
/// the header value is computed once.
///
/// # Example
///
/// ```
/// use rampart_headers::csp::{ContentSecurityPolicy, CspNonce};
///
/// let csp: ContentSecurityPolicy = "default-src 'none'; script-src 'nonce'".parse()?;
/// let nonce = CspNonce::generate();
/// let value = csp.header_value(Some(&nonce));
/// assert_eq!(
///     value.to_str().unwrap(),
///     format!("default-src 'none'; script-src 'nonce-{nonce}'")
/// );
/// assert_eq!(csp.header_name(), "content-security-policy");
/// # Ok::<(), rampart_headers::csp::CspError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ContentSecurityPolicy {
    directives: Vec<(Directive, Value)>,
    report_only: bool,
    endpoint_list: Vec<(String, String)>,
    endpoints: Option<HeaderValue>,
    /// The header text, split where a nonce goes.
    parts: Box<[Box<str>]>,
    /// The whole header when the policy has no nonce.
    static_value: Option<HeaderValue>,
}

impl PartialEq for ContentSecurityPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.directives == other.directives
            && self.report_only == other.report_only
            && self.endpoint_list == other.endpoint_list
    }
}

impl Eq for ContentSecurityPolicy {}

impl ContentSecurityPolicy {
    /// An empty builder.
    pub fn builder() -> CspBuilder {
        CspBuilder::default()
    }

    /// A builder holding this policy, to change it.
    pub fn to_builder(&self) -> CspBuilder {
        CspBuilder {
            directives: self.directives.clone(),
            report_only: self.report_only,
            endpoints: self.endpoint_list.clone(),
        }
    }

    /// `Content-Security-Policy`, or `Content-Security-Policy-Report-Only` in report-only mode.
    pub fn header_name(&self) -> HeaderName {
        if self.report_only {
            header::CONTENT_SECURITY_POLICY_REPORT_ONLY
        } else {
            header::CONTENT_SECURITY_POLICY
        }
    }

    /// Whether the policy is sent in report-only mode.
    pub fn is_report_only(&self) -> bool {
        self.report_only
    }

    /// Whether the policy holds a per-request nonce.
    pub fn needs_nonce(&self) -> bool {
        self.parts.len() > 1
    }

    /// The sources of a source-list directive, if the policy sets it.
    pub fn sources(&self, directive: Directive) -> Option<&[Source]> {
        self.directives.iter().find_map(|(d, v)| match v {
            Value::Sources(sources) if *d == directive => Some(sources.as_slice()),
            _ => None,
        })
    }

    /// The `Reporting-Endpoints` header value to send beside the policy, if
    /// any endpoint was defined.
    pub fn reporting_endpoints(&self) -> Option<&HeaderValue> {
        self.endpoints.as_ref()
    }

    /// The header value, with `nonce` written where the policy asks for one.
    /// A policy with a nonce given `None` gets a fresh nonce.
    pub fn header_value(&self, nonce: Option<&CspNonce>) -> HeaderValue {
        if let Some(value) = &self.static_value {
            return value.clone();
        }
        let fresh;
        let nonce = if let Some(nonce) = nonce {
            nonce
        } else {
            fresh = CspNonce::generate();
            &fresh
        };
        self.with_nonce(nonce)
    }

    /// The header text with this nonce in every gap: per-request work, one
    /// allocation.
    pub(crate) fn with_nonce(&self, nonce: &CspNonce) -> HeaderValue {
        let nonce = nonce.as_str();
        let len = self.parts.iter().map(|p| p.len()).sum::<usize>()
            + nonce.len() * (self.parts.len() - 1);
        let mut text = Vec::with_capacity(len);
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                text.extend_from_slice(nonce.as_bytes());
            }
            text.extend_from_slice(part.as_bytes());
        }
        // Every byte was validated when the policy was built, and a nonce is
        // base64; should that ever fail, send the policy without sources in
        // the gaps rather than no policy at all (fail closed).
        HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
            .unwrap_or(HeaderValue::from_static("default-src 'none'"))
    }
}

impl fmt::Display for ContentSecurityPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = render(&self.directives, Render::Text);
        f.write_str(&text.concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(b: CspBuilder) -> Result<ContentSecurityPolicy, CspError> {
        b.build()
    }

    #[test]
    fn refuses_what_the_issue_lists() {
        use Directive::*;
        let b = ContentSecurityPolicy::builder;
        assert_eq!(build(b()), Err(CspError::EmptyPolicy));
        assert_eq!(
            build(b().directive(ScriptSrc, [])),
            Err(CspError::EmptyDirective {
                directive: ScriptSrc
            })
        );
        assert_eq!(
            build(b().directive(ImgSrc, [Source::None, Source::SelfOrigin])),
            Err(CspError::NoneWithOtherSources { directive: ImgSrc })
        );
        assert_eq!(
            build(b().directive(StyleSrc, [Source::UnsafeInline, Source::Nonce])),
            Err(CspError::UnsafeInlineWithNonce {
                directive: StyleSrc
            })
        );
        assert!(matches!(
            build(b().directive(FrameAncestors, [Source::Nonce])),
            Err(CspError::NotAllowedIn {
                directive: FrameAncestors,
                ..
            })
        ));
        assert!(matches!(
            build(b().directive(ReportUri, [Source::SelfOrigin])),
            Err(CspError::UnexpectedValue {
                directive: ReportUri
            })
        ));
        assert_eq!(
            build(b().directive(DefaultSrc, [Source::None]).report_only(true)),
            Err(CspError::ReportOnlyWithoutReporting)
        );
        assert!(matches!(
            build(b().directive(DefaultSrc, [Source::None]).report_uri("/a b")),
            Err(CspError::InvalidReportUri { .. })
        ));
        assert!(matches!(
            build(b().directive(DefaultSrc, [Source::None]).report_to("a b")),
            Err(CspError::InvalidReportTo { .. })
        ));
        assert!(matches!(
            build(
                b().directive(DefaultSrc, [Source::None])
                    .reporting_endpoint("Bad", "/r")
            ),
            Err(CspError::InvalidReportingEndpoint { .. })
        ));
    }

    #[test]
    fn parse_errors_name_the_fault() {
        let cases: [(&str, CspError); 5] = [
            (
                "default-src self",
                CspError::UnquotedKeyword {
                    keyword: "self".into(),
                },
            ),
            (
                "default-src 'none'; default-src 'self'",
                CspError::DuplicateDirective {
                    directive: Directive::DefaultSrc,
                },
            ),
            (
                "script-srcc 'self'",
                CspError::UnknownDirective {
                    name: "script-srcc".into(),
                },
            ),
            (
                "upgrade-insecure-requests yes",
                CspError::UnexpectedValue {
                    directive: Directive::UpgradeInsecureRequests,
                },
            ),
            (
                "sandbox allow-everything",
                CspError::UnknownSandboxFlag {
                    flag: "allow-everything".into(),
                },
            ),
        ];
        for (text, err) in cases {
            assert_eq!(text.parse::<ContentSecurityPolicy>(), Err(err), "{text}");
        }
        assert_eq!(
            "".parse::<ContentSecurityPolicy>(),
            Err(CspError::EmptyPolicy)
        );
        assert_eq!(
            " ; ;".parse::<ContentSecurityPolicy>(),
            Err(CspError::EmptyPolicy)
        );
    }

    #[test]
    fn text_round_trips() {
        let text = "default-src 'self'; script-src 'nonce' 'strict-dynamic' https:; \
                    style-src 'self' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='; \
                    img-src 'self' data: https://*.example.com:443/img/; sandbox allow-scripts; \
                    upgrade-insecure-requests; report-uri /csp-report https://r.example/csp; report-to csp";
        let csp: ContentSecurityPolicy = text.parse().unwrap();
        assert_eq!(
            csp.to_string(),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        assert_eq!(
            csp.to_string().parse::<ContentSecurityPolicy>().unwrap(),
            csp
        );
    }

    #[test]
    fn nonce_goes_in_every_gap() {
        let csp: ContentSecurityPolicy = "script-src 'nonce'; style-src 'nonce' 'self'"
            .parse()
            .unwrap();
        let nonce = CspNonce::generate();
        let value = csp.header_value(Some(&nonce));
        assert_eq!(
            value.to_str().unwrap(),
            format!("script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}' 'self'")
        );
    }

    #[test]
    fn reporting_endpoints_header() {
        let csp = ContentSecurityPolicy::builder()
            .directive(Directive::DefaultSrc, [Source::None])
            .report_to("csp")
            .reporting_endpoint("csp", "https://example.com/csp")
            .reporting_endpoint("other", "/r")
            .report_only(true)
            .build()
            .unwrap();
        assert_eq!(
            csp.reporting_endpoints().unwrap(),
            "csp=\"https://example.com/csp\", other=\"/r\""
        );
        assert_eq!(csp.header_name(), "content-security-policy-report-only");
    }
}
