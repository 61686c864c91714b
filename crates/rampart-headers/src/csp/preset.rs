//! The policies an API, an HTML app and Swagger UI start from.

use super::{
    ContentSecurityPolicy,
    Directive::{
        BaseUri, DefaultSrc, FormAction, FrameAncestors, ImgSrc, ObjectSrc, ScriptSrc, StyleSrc,
    },
    Source,
};

impl ContentSecurityPolicy {
    /// `default-src 'none'; frame-ancestors 'none'`: a JSON API loads
    /// nothing and is framed by no one.
    ///
    /// ```
    /// use rampart_headers::csp::ContentSecurityPolicy;
    /// assert_eq!(ContentSecurityPolicy::api().to_string(), "default-src 'none'; frame-ancestors 'none'");
    /// ```
    pub fn api() -> Self {
        Self::builder()
            .directive(DefaultSrc, [Source::None])
            .directive(FrameAncestors, [Source::None])
            .build_trusted()
    }

    /// The policy of [`SecurityHeaders::html_app`](crate::SecurityHeaders::html_app):
    /// `default-src 'self'; script-src 'self' 'nonce'; style-src 'self' 'nonce';
    /// img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self';
    /// frame-ancestors 'self'; upgrade-insecure-requests`.
    ///
    /// ```
    /// use rampart_headers::csp::ContentSecurityPolicy;
    /// assert!(ContentSecurityPolicy::html_app().needs_nonce());
    /// ```
    pub fn html_app() -> Self {
        Self::builder()
            .directive(DefaultSrc, [Source::SelfOrigin])
            .directive(ScriptSrc, [Source::SelfOrigin, Source::Nonce])
            .directive(StyleSrc, [Source::SelfOrigin, Source::Nonce])
            .directive(ImgSrc, [Source::SelfOrigin, Source::scheme("data")])
            .directive(ObjectSrc, [Source::None])
            .directive(BaseUri, [Source::SelfOrigin])
            .directive(FormAction, [Source::SelfOrigin])
            .directive(FrameAncestors, [Source::SelfOrigin])
            .upgrade_insecure_requests()
            .build_trusted()
    }

    /// A policy under which Swagger UI served from the app's own origin runs
    /// (its inline `style` attributes and `data:` icons included) and
    /// nothing else does: `default-src 'self'; img-src 'self' data:;
    /// style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none';
    /// base-uri 'self'; form-action 'self'; frame-ancestors 'none'`.
    ///
    /// ```
    /// use rampart_headers::csp::ContentSecurityPolicy;
    /// assert!(!ContentSecurityPolicy::swagger_ui().needs_nonce());
    /// ```
    pub fn swagger_ui() -> Self {
        Self::builder()
            .directive(DefaultSrc, [Source::SelfOrigin])
            .directive(ImgSrc, [Source::SelfOrigin, Source::scheme("data")])
            .directive(StyleSrc, [Source::SelfOrigin, Source::UnsafeInline])
            .directive(ScriptSrc, [Source::SelfOrigin])
            .directive(ObjectSrc, [Source::None])
            .directive(BaseUri, [Source::SelfOrigin])
            .directive(FormAction, [Source::SelfOrigin])
            .directive(FrameAncestors, [Source::None])
            .build_trusted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_policies_pass_validation() {
        for csp in [
            ContentSecurityPolicy::api(),
            ContentSecurityPolicy::html_app(),
            ContentSecurityPolicy::swagger_ui(),
        ] {
            assert_eq!(csp.to_builder().build().unwrap(), csp);
            assert_eq!(
                csp.to_string().parse::<ContentSecurityPolicy>().unwrap(),
                csp
            );
        }
    }
}
