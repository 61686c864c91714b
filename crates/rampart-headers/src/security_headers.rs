//! [`SecurityHeaders`]: which headers the layer sets, with which values,
//! where; its presets for an API and an HTML app.

use http::{HeaderName, HeaderValue, header};
use rampart_core::TrustedProxies;

use crate::{
    CrossOriginOpenerPolicy, CrossOriginResourcePolicy, FrameOptions, Hsts, ReferrerPolicy,
    SecurityHeadersConfigError, SecurityHeadersLayer, csp::ContentSecurityPolicy,
};

/// Whether a header the handler already set is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InsertHeaderMode {
    /// The handler's value wins; the layer adds the header only when the
    /// response lacks it (the default).
    #[default]
    IfNotPresent,
    /// The layer's value replaces the handler's.
    Overriding,
}

/// What a route prefix gets.
#[derive(Debug, Clone)]
pub(crate) enum RouteTarget {
    Policy(Box<SecurityHeaders>),
    Exempt,
}

/// The set of security headers a [`SecurityHeadersLayer`] sets: start from a
/// preset ([`api`](Self::api), [`html_app`](Self::html_app)), change what
/// you need, then [`build`](Self::build) once. Every value is checked and
/// every header rendered when the layer is built.
///
/// # Example
///
/// ```
/// use rampart_headers::{SecurityHeaders, ReferrerPolicy, csp::ContentSecurityPolicy};
///
/// let layer = SecurityHeaders::api()
///     .referrer_policy(ReferrerPolicy::StrictOriginWhenCrossOrigin)
///     .overriding(http::header::X_FRAME_OPTIONS)
///     .route(
///         "/docs",
///         SecurityHeaders::api().content_security_policy(ContentSecurityPolicy::swagger_ui()),
///     )
///     .exempt("/metrics")
///     .build()?;
/// # let _ = layer;
/// # Ok::<(), rampart_headers::SecurityHeadersConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SecurityHeaders {
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) csp: Option<ContentSecurityPolicy>,
    pub(crate) hsts: Option<Hsts>,
    pub(crate) overriding: Vec<HeaderName>,
    pub(crate) overriding_all: bool,
    pub(crate) remove: Vec<HeaderName>,
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) routes: Vec<(String, RouteTarget)>,
}

/// The presets' `Permissions-Policy`: every powerful feature off, for
/// every origin, the page itself included.
pub(crate) const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), \
    display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), \
    magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), \
    publickey-credentials-get=(), screen-wake-lock=(), sync-xhr=(), usb=(), \
    xr-spatial-tracking=()";

impl SecurityHeaders {
    /// No headers at all: build up from nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The preset for a JSON API (the demo's default). The
    /// [crate documentation](crate) explains each value.
    ///
    /// | header | value |
    /// |---|---|
    /// | `X-Content-Type-Options` | `nosniff` |
    /// | `X-Frame-Options` | `DENY` |
    /// | `Content-Security-Policy` | `default-src 'none'; frame-ancestors 'none'` |
    /// | `Strict-Transport-Security` | `max-age=31536000; includeSubDomains` (HTTPS only) |
    /// | `Referrer-Policy` | `no-referrer` |
    /// | `Cross-Origin-Opener-Policy` | `same-origin` |
    /// | `Cross-Origin-Resource-Policy` | `same-origin` |
    /// | `Permissions-Policy` | every feature `()` |
    /// | `X-Permitted-Cross-Domain-Policies` | `none` |
    /// | `X-XSS-Protection` | `0` |
    /// | `Server`, `X-Powered-By` | removed |
    ///
    /// ```
    /// let layer = rampart_headers::SecurityHeaders::api().build()?;
    /// # let _ = layer;
    /// # Ok::<(), rampart_headers::SecurityHeadersConfigError>(())
    /// ```
    pub fn api() -> Self {
        Self::common()
            .frame_options(FrameOptions::Deny)
            .content_security_policy(ContentSecurityPolicy::api())
    }

    /// The preset for HTML pages the app serves itself: as [`api`](Self::api),
    /// with `X-Frame-Options: SAMEORIGIN` and
    /// [`ContentSecurityPolicy::html_app`] (same-origin resources, scripts
    /// and styles by per-request nonce, no plugins, `base-uri`/`form-action`
    /// `'self'`, `upgrade-insecure-requests`). Templates read the nonce from
    /// the request's [`CspNonce`](crate::CspNonce) extension.
    ///
    /// ```
    /// let layer = rampart_headers::SecurityHeaders::html_app().build()?;
    /// # let _ = layer;
    /// # Ok::<(), rampart_headers::SecurityHeadersConfigError>(())
    /// ```
    pub fn html_app() -> Self {
        Self::common()
            .frame_options(FrameOptions::SameOrigin)
            .content_security_policy(ContentSecurityPolicy::html_app())
    }

    fn common() -> Self {
        Self::new()
            .header(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            )
            .hsts(Hsts::one_year())
            .referrer_policy(ReferrerPolicy::NoReferrer)
            .cross_origin_opener_policy(CrossOriginOpenerPolicy::SameOrigin)
            .cross_origin_resource_policy(CrossOriginResourcePolicy::SameOrigin)
            .header(
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static(PERMISSIONS_POLICY),
            )
            .header(
                HeaderName::from_static("x-permitted-cross-domain-policies"),
                HeaderValue::from_static("none"),
            )
            .header(header::X_XSS_PROTECTION, HeaderValue::from_static("0"))
            .remove_header(header::SERVER)
            .remove_header(HeaderName::from_static("x-powered-by"))
    }

    /// Sets a header to this value (replacing the set's own value, if any).
    /// For CSP and HSTS use their typed setters.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        match self.headers.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.headers.push((name, value)),
        }
        self
    }

    /// Drops a header from the set (`Content-Security-Policy` and
    /// `Strict-Transport-Security` included).
    pub fn without(mut self, name: &HeaderName) -> Self {
        self.headers.retain(|(n, _)| n != name);
        if *name == header::STRICT_TRANSPORT_SECURITY {
            self.hsts = None;
        }
        if self.csp.as_ref().is_some_and(|c| c.header_name() == name) {
            self.csp = None;
        }
        self
    }

    /// [`X-Frame-Options`](https://developer.mozilla.org/docs/Web/HTTP/Headers/X-Frame-Options).
    pub fn frame_options(self, value: FrameOptions) -> Self {
        self.header(header::X_FRAME_OPTIONS, value.header_value())
    }

    /// [`Referrer-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Referrer-Policy).
    pub fn referrer_policy(self, value: ReferrerPolicy) -> Self {
        self.header(header::REFERRER_POLICY, value.header_value())
    }

    /// [`Cross-Origin-Opener-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Cross-Origin-Opener-Policy).
    pub fn cross_origin_opener_policy(self, value: CrossOriginOpenerPolicy) -> Self {
        self.header(
            HeaderName::from_static("cross-origin-opener-policy"),
            value.header_value(),
        )
    }

    /// [`Cross-Origin-Resource-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Cross-Origin-Resource-Policy).
    pub fn cross_origin_resource_policy(self, value: CrossOriginResourcePolicy) -> Self {
        self.header(
            HeaderName::from_static("cross-origin-resource-policy"),
            value.header_value(),
        )
    }

    /// [`Permissions-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Permissions-Policy),
    /// as written (`camera=(), microphone=(self)`).
    pub fn permissions_policy(self, value: HeaderValue) -> Self {
        self.header(HeaderName::from_static("permissions-policy"), value)
    }

    /// The Content Security Policy (sent as `Content-Security-Policy-Report-Only`
    /// when the policy is in report-only mode, with `Reporting-Endpoints`
    /// when it defines endpoints).
    pub fn content_security_policy(mut self, csp: ContentSecurityPolicy) -> Self {
        self.csp = Some(csp);
        self
    }

    /// `Strict-Transport-Security`, on HTTPS responses unless [`Hsts::always`].
    pub fn hsts(mut self, hsts: Hsts) -> Self {
        self.hsts = Some(hsts);
        self
    }

    /// The proxies whose `X-Forwarded-Proto: https` or `Forwarded: proto=https`
    /// makes a request count as HTTPS for HSTS. Default: none.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The layer's value of this header replaces the handler's.
    pub fn overriding(mut self, name: HeaderName) -> Self {
        if !self.overriding.contains(&name) {
            self.overriding.push(name);
        }
        self
    }

    /// The handler's value of this header wins (the default).
    pub fn if_not_present(mut self, name: &HeaderName) -> Self {
        self.overriding.retain(|n| n != name);
        self.overriding_all = false;
        self
    }

    /// Every header of the set replaces the handler's.
    pub fn overriding_all(mut self) -> Self {
        self.overriding_all = true;
        self
    }

    /// Removes this header from every response, whoever set it (the presets
    /// remove `Server` and `X-Powered-By`: they tell an attacker what to try).
    pub fn remove_header(mut self, name: HeaderName) -> Self {
        if !self.remove.contains(&name) {
            self.remove.push(name);
        }
        self
    }

    /// Stops removing this header.
    pub fn keep_header(mut self, name: &HeaderName) -> Self {
        self.remove.retain(|n| n != name);
        self
    }

    /// Requests whose path is `prefix` or below it (`/docs` covers `/docs`
    /// and `/docs/index.html`, not `/docsearch`) get `policy` instead. The
    /// longest matching prefix wins. The route's own routes and trusted
    /// proxies are not used: the top level's are.
    pub fn route(mut self, prefix: impl Into<String>, policy: Self) -> Self {
        self.routes
            .push((prefix.into(), RouteTarget::Policy(Box::new(policy))));
        self
    }

    /// Requests below `prefix` pass through untouched: no header added or removed.
    pub fn exempt(mut self, prefix: impl Into<String>) -> Self {
        self.routes.push((prefix.into(), RouteTarget::Exempt));
        self
    }

    pub(crate) fn mode(&self, name: &HeaderName) -> InsertHeaderMode {
        if self.overriding_all || self.overriding.contains(name) {
            InsertHeaderMode::Overriding
        } else {
            InsertHeaderMode::IfNotPresent
        }
    }

    /// Checks the configuration and renders every header: the layer.
    pub fn build(self) -> Result<SecurityHeadersLayer, SecurityHeadersConfigError> {
        SecurityHeadersLayer::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_policy_is_a_header_value() {
        assert!(HeaderValue::from_str(PERMISSIONS_POLICY).is_ok());
    }
}
