//! A typed Content Security Policy: directives, sources, validation when
//! built, and a fresh nonce per request.
//!
//! Build a policy with [`ContentSecurityPolicy::builder`] or parse one from
//! text (configuration files, environment); either way it is checked once:
//! keywords are quoted, no directive is empty, `'none'` stands alone,
//! `'unsafe-inline'` never sits beside a nonce or hash, script keywords only
//! appear where browsers read them, report-only mode has somewhere to report.
//!
//! # Example
//!
//! ```
//! use rampart_headers::csp::{ContentSecurityPolicy, Directive, Source};
//!
//! let csp = ContentSecurityPolicy::builder()
//!     .directive(Directive::DefaultSrc, [Source::SelfOrigin])
//!     .directive(Directive::ScriptSrc, [Source::Nonce])
//!     .report_uri("/csp-report")
//!     .report_only(true)
//!     .build()?;
//! assert_eq!(csp.header_name(), "content-security-policy-report-only");
//!
//! // The same policy as text: `'nonce'` asks for the per-request nonce.
//! let parsed: ContentSecurityPolicy =
//!     "default-src 'self'; script-src 'nonce'; report-uri /csp-report".parse()?;
//! assert_eq!(parsed.to_builder().report_only(true).build()?, csp);
//! # Ok::<(), rampart_headers::csp::CspError>(())
//! ```

mod directive;
mod error;
mod nonce;
mod parse;
mod policy;
mod preset;
mod source;

pub use self::{
    directive::{Directive, SandboxFlag},
    error::CspError,
    nonce::CspNonce,
    policy::{ContentSecurityPolicy, CspBuilder},
    source::{HashAlgorithm, Source},
};
