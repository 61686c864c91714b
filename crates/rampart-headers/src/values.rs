//! Typed values of the simple security headers.

use std::{fmt, str::FromStr};

use http::HeaderValue;

use crate::SecurityHeadersConfigError;

macro_rules! token_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $setting:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// The header value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }

            #[allow(dead_code, reason = "Preset is not a header value")]
            pub(crate) fn header_value(self) -> HeaderValue {
                HeaderValue::from_static(self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = SecurityHeadersConfigError;

            /// Parses the header value, ASCII case-insensitively.
            fn from_str(text: &str) -> Result<Self, SecurityHeadersConfigError> {
                let text = text.trim();
                $( if text.eq_ignore_ascii_case($text) { return Ok(Self::$variant); } )+
                Err(SecurityHeadersConfigError::InvalidValue {
                    setting: $setting,
                    value: text.to_owned(),
                    expected: concat!("one of:" $(, " ", $text)+),
                })
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

token_enum! {
    /// [`X-Frame-Options`](https://developer.mozilla.org/docs/Web/HTTP/Headers/X-Frame-Options):
    /// who may show the page in a frame (clickjacking). CSP `frame-ancestors`
    /// supersedes it; browsers that predate CSP 2 read only this one.
    ///
    /// ```
    /// use rampart_headers::FrameOptions;
    /// assert_eq!("sameorigin".parse::<FrameOptions>()?, FrameOptions::SameOrigin);
    /// assert_eq!(FrameOptions::Deny.as_str(), "DENY");
    /// # Ok::<(), rampart_headers::SecurityHeadersConfigError>(())
    /// ```
    FrameOptions, "frame_options" {
        /// `DENY`: no frame anywhere.
        Deny => "DENY",
        /// `SAMEORIGIN`: frames of the same origin only.
        SameOrigin => "SAMEORIGIN",
    }
}

token_enum! {
    /// [`Referrer-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Referrer-Policy):
    /// how much of the page's URL goes to the sites it links to.
    ///
    /// ```
    /// use rampart_headers::ReferrerPolicy;
    /// assert_eq!("no-referrer".parse::<ReferrerPolicy>()?, ReferrerPolicy::NoReferrer);
    /// # Ok::<(), rampart_headers::SecurityHeadersConfigError>(())
    /// ```
    ReferrerPolicy, "referrer_policy" {
        /// `no-referrer`: nothing (the presets: an API's URLs may carry ids).
        NoReferrer => "no-referrer",
        /// `no-referrer-when-downgrade`.
        NoReferrerWhenDowngrade => "no-referrer-when-downgrade",
        /// `origin`: the origin only.
        Origin => "origin",
        /// `origin-when-cross-origin`.
        OriginWhenCrossOrigin => "origin-when-cross-origin",
        /// `same-origin`: full URL to the same origin, nothing elsewhere.
        SameOrigin => "same-origin",
        /// `strict-origin`.
        StrictOrigin => "strict-origin",
        /// `strict-origin-when-cross-origin`: the browsers' default.
        StrictOriginWhenCrossOrigin => "strict-origin-when-cross-origin",
        /// `unsafe-url`: the full URL everywhere.
        UnsafeUrl => "unsafe-url",
    }
}

token_enum! {
    /// [`Cross-Origin-Opener-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Cross-Origin-Opener-Policy):
    /// whether a cross-origin window that opened this one keeps a handle to it.
    ///
    /// ```
    /// use rampart_headers::CrossOriginOpenerPolicy;
    /// assert_eq!(CrossOriginOpenerPolicy::SameOrigin.as_str(), "same-origin");
    /// ```
    CrossOriginOpenerPolicy, "cross_origin_opener_policy" {
        /// `same-origin`: a browsing context group of its own (the presets).
        SameOrigin => "same-origin",
        /// `same-origin-allow-popups`: keep handles to popups it opens (OAuth popups).
        SameOriginAllowPopups => "same-origin-allow-popups",
        /// `unsafe-none`: the browsers' default.
        UnsafeNone => "unsafe-none",
    }
}

token_enum! {
    /// [`Cross-Origin-Resource-Policy`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Cross-Origin-Resource-Policy):
    /// which sites may embed the response (`<img>`, `<script>`, `no-cors` fetches).
    ///
    /// ```
    /// use rampart_headers::CrossOriginResourcePolicy;
    /// assert_eq!(CrossOriginResourcePolicy::SameSite.as_str(), "same-site");
    /// ```
    CrossOriginResourcePolicy, "cross_origin_resource_policy" {
        /// `same-origin` (the presets).
        SameOrigin => "same-origin",
        /// `same-site`: any origin of the same registrable domain.
        SameSite => "same-site",
        /// `cross-origin`: anyone (public assets, a CDN).
        CrossOrigin => "cross-origin",
    }
}

token_enum! {
    /// Which preset a configuration starts from.
    ///
    /// ```
    /// use rampart_headers::Preset;
    /// assert_eq!("html_app".parse::<Preset>()?, Preset::HtmlApp);
    /// # Ok::<(), rampart_headers::SecurityHeadersConfigError>(())
    /// ```
    Preset, "preset" {
        /// [`SecurityHeaders::api`](crate::SecurityHeaders::api).
        Api => "api",
        /// [`SecurityHeaders::html_app`](crate::SecurityHeaders::html_app).
        HtmlApp => "html_app",
    }
}

#[allow(
    clippy::derivable_impls,
    reason = "the macro writes the enum; Default is added here"
)]
impl Default for Preset {
    fn default() -> Self {
        Self::Api
    }
}
