//! Why a Content Security Policy was refused.

use super::Directive;

/// Why a Content Security Policy was refused when it was built or parsed.
/// Each variant names the directive or source at fault.
///
/// # Example
///
/// ```
/// use rampart_headers::csp::{ContentSecurityPolicy, CspError, Directive, Source};
///
/// let err = ContentSecurityPolicy::builder()
///     .directive(Directive::ScriptSrc, [Source::Nonce, Source::UnsafeInline])
///     .build()
///     .unwrap_err();
/// assert_eq!(err, CspError::UnsafeInlineWithNonce { directive: Directive::ScriptSrc });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CspError {
    /// The policy has no directive at all.
    #[error("the Content Security Policy has no directive")]
    EmptyPolicy,
    /// A source-list directive with no source: write `'none'` to allow nothing.
    #[error("CSP directive {directive} has no source; write 'none' to allow nothing")]
    EmptyDirective {
        /// The directive.
        directive: Directive,
    },
    /// `'none'` beside other sources, which makes the `'none'` meaningless.
    #[error("CSP directive {directive} lists 'none' beside other sources")]
    NoneWithOtherSources {
        /// The directive.
        directive: Directive,
    },
    /// `'unsafe-inline'` beside a nonce or hash: browsers that know nonces
    /// ignore it, so it only misleads a reader (and re-enables inline scripts
    /// in browsers so old that nothing else protects them).
    #[error("CSP directive {directive} lists 'unsafe-inline' beside a nonce or hash")]
    UnsafeInlineWithNonce {
        /// The directive.
        directive: Directive,
    },
    /// A script or style keyword, nonce or hash in a directive that ignores it.
    #[error("{value} means nothing in CSP directive {directive}")]
    NotAllowedIn {
        /// The source as written.
        value: String,
        /// The directive.
        directive: Directive,
    },
    /// A host, scheme or hash that is not well formed.
    #[error("CSP source {value:?} is invalid: {reason}")]
    InvalidSource {
        /// The source as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A keyword written without its quotes (`self` instead of `'self'`),
    /// which browsers read as a host name.
    #[error("CSP source {keyword} is a keyword written without quotes; write '{keyword}'")]
    UnquotedKeyword {
        /// The keyword.
        keyword: String,
    },
    /// A fixed `'nonce-…'` in a policy: a nonce must change with every
    /// response. Write `'nonce'` to get a fresh one per request.
    #[error("a fixed 'nonce-...' defeats the nonce; write 'nonce' for a fresh nonce per request")]
    FixedNonce,
    /// A directive name this crate does not know.
    #[error("unknown CSP directive {name:?}")]
    UnknownDirective {
        /// The name as written.
        name: String,
    },
    /// The same directive twice: browsers ignore the second.
    #[error("CSP directive {directive} is given twice; browsers ignore the second")]
    DuplicateDirective {
        /// The directive.
        directive: Directive,
    },
    /// A sandbox flag this crate does not know.
    #[error("unknown sandbox flag {flag:?}")]
    UnknownSandboxFlag {
        /// The flag as written.
        flag: String,
    },
    /// A directive was given a value of the wrong kind: sources to
    /// `sandbox`, `report-uri` or `upgrade-insecure-requests`, or a value to
    /// `upgrade-insecure-requests`.
    #[error("CSP directive {directive} does not take this value; use its own builder method")]
    UnexpectedValue {
        /// The directive.
        directive: Directive,
    },
    /// A `report-uri` that is empty or holds a space, quote, `;` or `,`.
    #[error("CSP report-uri {uri:?} is not a URI")]
    InvalidReportUri {
        /// The URI as written.
        uri: String,
    },
    /// A `report-to` group that is not one token.
    #[error("CSP report-to group {group:?} is not a token such as csp-endpoint")]
    InvalidReportTo {
        /// The group as written.
        group: String,
    },
    /// A `Reporting-Endpoints` entry with a bad name or URL.
    #[error(
        "reporting endpoint {name:?}={url:?} is invalid: the name must be lowercase letters, digits, '_', '-', '.', and the URL visible ASCII"
    )]
    InvalidReportingEndpoint {
        /// The endpoint name.
        name: String,
        /// The URL.
        url: String,
    },
    /// Report-only mode with nowhere to report: the policy would do nothing.
    #[error("a report-only Content Security Policy needs report-uri or report-to")]
    ReportOnlyWithoutReporting,
}
