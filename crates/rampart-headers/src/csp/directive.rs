//! The directives of a Content Security Policy, as a closed set.

use std::fmt;

/// A CSP directive ([CSP Level 3 §6]).
///
/// The set is closed on purpose: a typo in a directive name is an error when
/// the policy is built, not a directive that browsers silently ignore, and
/// violation reports are counted per directive in a map with a fixed number of
/// keys.
///
/// # Example
///
/// ```
/// use rampart_headers::csp::Directive;
///
/// assert_eq!(Directive::ScriptSrc.name(), "script-src");
/// assert_eq!(Directive::from_name("Frame-Ancestors"), Some(Directive::FrameAncestors));
/// assert_eq!(Directive::from_name("scripts-src"), None);
/// ```
///
/// [CSP Level 3 §6]: https://www.w3.org/TR/CSP3/#csp-directives
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Directive {
    /// `default-src`: the fallback for every fetch directive not given.
    DefaultSrc,
    /// `script-src`: where scripts may come from.
    ScriptSrc,
    /// `script-src-elem`: `<script>` elements.
    ScriptSrcElem,
    /// `script-src-attr`: inline event handlers.
    ScriptSrcAttr,
    /// `style-src`: where styles may come from.
    StyleSrc,
    /// `style-src-elem`: `<style>` and `<link rel=stylesheet>`.
    StyleSrcElem,
    /// `style-src-attr`: `style` attributes.
    StyleSrcAttr,
    /// `img-src`: images and favicons.
    ImgSrc,
    /// `font-src`: web fonts.
    FontSrc,
    /// `connect-src`: `fetch`, XHR, WebSocket, EventSource.
    ConnectSrc,
    /// `media-src`: `<audio>`, `<video>`, `<track>`.
    MediaSrc,
    /// `object-src`: `<object>` and `<embed>` (plugins).
    ObjectSrc,
    /// `frame-src`: what this page may frame.
    FrameSrc,
    /// `child-src`: frames and workers (older fallback).
    ChildSrc,
    /// `worker-src`: workers and service workers.
    WorkerSrc,
    /// `manifest-src`: the web app manifest.
    ManifestSrc,
    /// `base-uri`: what `<base href>` may point to.
    BaseUri,
    /// `form-action`: where forms may submit.
    FormAction,
    /// `frame-ancestors`: who may frame this page (supersedes `X-Frame-Options`).
    FrameAncestors,
    /// `sandbox`: a sandbox like an `<iframe sandbox>` one, with the flags given.
    Sandbox,
    /// `upgrade-insecure-requests`: fetch `http:` subresources as `https:`.
    UpgradeInsecureRequests,
    /// `report-uri`: where to POST `application/csp-report` violation reports (deprecated, still the most supported).
    ReportUri,
    /// `report-to`: the `Reporting-Endpoints` group that receives `application/reports+json` reports.
    ReportTo,
}

/// What a directive's value is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// A source list (`'self' https://cdn.example`), never empty.
    Sources,
    /// Sandbox flags (may be empty: the strictest sandbox).
    SandboxFlags,
    /// No value at all.
    Flag,
    /// One or more URI references.
    Uris,
    /// One endpoint group name.
    Token,
}

impl Directive {
    /// Every directive, in the order of this enum.
    pub const ALL: [Self; 23] = [
        Self::DefaultSrc,
        Self::ScriptSrc,
        Self::ScriptSrcElem,
        Self::ScriptSrcAttr,
        Self::StyleSrc,
        Self::StyleSrcElem,
        Self::StyleSrcAttr,
        Self::ImgSrc,
        Self::FontSrc,
        Self::ConnectSrc,
        Self::MediaSrc,
        Self::ObjectSrc,
        Self::FrameSrc,
        Self::ChildSrc,
        Self::WorkerSrc,
        Self::ManifestSrc,
        Self::BaseUri,
        Self::FormAction,
        Self::FrameAncestors,
        Self::Sandbox,
        Self::UpgradeInsecureRequests,
        Self::ReportUri,
        Self::ReportTo,
    ];

    /// The directive's name as it appears in the header.
    pub const fn name(self) -> &'static str {
        match self {
            Self::DefaultSrc => "default-src",
            Self::ScriptSrc => "script-src",
            Self::ScriptSrcElem => "script-src-elem",
            Self::ScriptSrcAttr => "script-src-attr",
            Self::StyleSrc => "style-src",
            Self::StyleSrcElem => "style-src-elem",
            Self::StyleSrcAttr => "style-src-attr",
            Self::ImgSrc => "img-src",
            Self::FontSrc => "font-src",
            Self::ConnectSrc => "connect-src",
            Self::MediaSrc => "media-src",
            Self::ObjectSrc => "object-src",
            Self::FrameSrc => "frame-src",
            Self::ChildSrc => "child-src",
            Self::WorkerSrc => "worker-src",
            Self::ManifestSrc => "manifest-src",
            Self::BaseUri => "base-uri",
            Self::FormAction => "form-action",
            Self::FrameAncestors => "frame-ancestors",
            Self::Sandbox => "sandbox",
            Self::UpgradeInsecureRequests => "upgrade-insecure-requests",
            Self::ReportUri => "report-uri",
            Self::ReportTo => "report-to",
        }
    }

    /// The directive with this name, compared without regard to ASCII case
    /// (as browsers do). `None` for a name this crate does not know.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    /// The position of this directive in [`Directive::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn value_kind(self) -> ValueKind {
        match self {
            Self::Sandbox => ValueKind::SandboxFlags,
            Self::UpgradeInsecureRequests => ValueKind::Flag,
            Self::ReportUri => ValueKind::Uris,
            Self::ReportTo => ValueKind::Token,
            _ => ValueKind::Sources,
        }
    }

    /// Whether script and style keywords (`'unsafe-inline'`, nonces, hashes,
    /// `'strict-dynamic'`, ...) mean anything in this directive. Elsewhere
    /// browsers ignore them, so a policy that puts them there is refused.
    pub(crate) fn takes_script_keywords(self) -> bool {
        matches!(
            self,
            Self::DefaultSrc
                | Self::ScriptSrc
                | Self::ScriptSrcElem
                | Self::ScriptSrcAttr
                | Self::StyleSrc
                | Self::StyleSrcElem
                | Self::StyleSrcAttr
        )
    }
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flag of the [`Directive::Sandbox`] directive: what the sandboxed page may
/// still do.
///
/// # Example
///
/// ```
/// use rampart_headers::csp::SandboxFlag;
///
/// assert_eq!(SandboxFlag::AllowScripts.name(), "allow-scripts");
/// assert_eq!(SandboxFlag::from_name("allow-forms"), Some(SandboxFlag::AllowForms));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the flag of the same name
pub enum SandboxFlag {
    AllowDownloads,
    AllowForms,
    AllowModals,
    AllowOrientationLock,
    AllowPointerLock,
    AllowPopups,
    AllowPopupsToEscapeSandbox,
    AllowPresentation,
    AllowSameOrigin,
    AllowScripts,
    AllowTopNavigation,
    AllowTopNavigationByUserActivation,
    AllowTopNavigationToCustomProtocols,
}

impl SandboxFlag {
    const ALL: [Self; 13] = [
        Self::AllowDownloads,
        Self::AllowForms,
        Self::AllowModals,
        Self::AllowOrientationLock,
        Self::AllowPointerLock,
        Self::AllowPopups,
        Self::AllowPopupsToEscapeSandbox,
        Self::AllowPresentation,
        Self::AllowSameOrigin,
        Self::AllowScripts,
        Self::AllowTopNavigation,
        Self::AllowTopNavigationByUserActivation,
        Self::AllowTopNavigationToCustomProtocols,
    ];

    /// The flag as written in the header.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AllowDownloads => "allow-downloads",
            Self::AllowForms => "allow-forms",
            Self::AllowModals => "allow-modals",
            Self::AllowOrientationLock => "allow-orientation-lock",
            Self::AllowPointerLock => "allow-pointer-lock",
            Self::AllowPopups => "allow-popups",
            Self::AllowPopupsToEscapeSandbox => "allow-popups-to-escape-sandbox",
            Self::AllowPresentation => "allow-presentation",
            Self::AllowSameOrigin => "allow-same-origin",
            Self::AllowScripts => "allow-scripts",
            Self::AllowTopNavigation => "allow-top-navigation",
            Self::AllowTopNavigationByUserActivation => "allow-top-navigation-by-user-activation",
            Self::AllowTopNavigationToCustomProtocols => "allow-top-navigation-to-custom-protocols",
        }
    }

    /// The flag with this name (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_round_trip() {
        for (i, d) in Directive::ALL.into_iter().enumerate() {
            assert_eq!(d.index(), i);
            assert_eq!(Directive::from_name(d.name()), Some(d));
        }
        for f in SandboxFlag::ALL {
            assert_eq!(SandboxFlag::from_name(f.name()), Some(f));
        }
    }
}
