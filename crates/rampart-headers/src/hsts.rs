//! `Strict-Transport-Security`, and when a request counts as HTTPS.

use std::time::Duration;

use http::{HeaderValue, Request, uri::Scheme};
use rampart_core::TrustedProxies;

use crate::SecurityHeadersConfigError;

/// A marker a TLS-terminating server puts in the extensions of every request
/// it read from a TLS connection, so that the layer knows the request came
/// over HTTPS. HTTP/1.1 requests carry no scheme of their own (HTTP/2 and 3
/// carry `:scheme`, which the layer reads from the URI).
///
/// With hyper and tokio-rustls, insert it in the `service_fn` that serves the
/// connection; with axum, `.layer(Extension(HttpsConnection))` on the router a
/// TLS listener serves.
///
/// # Example
///
/// ```
/// use rampart_headers::HttpsConnection;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(HttpsConnection);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HttpsConnection;

/// [`Strict-Transport-Security`](https://developer.mozilla.org/docs/Web/HTTP/Headers/Strict-Transport-Security)
/// (RFC 6797): the browser uses only HTTPS for this host for `max-age`
/// seconds.
///
/// Sent only on responses to HTTPS requests (browsers ignore it over plain
/// HTTP, and a plain-HTTP response that claims it misleads anyone reading
/// it): a request is HTTPS when its URI says `https`, when the server put an
/// [`HttpsConnection`] in its extensions, or when a trusted proxy (see
/// [`SecurityHeaders::trusted_proxies`](crate::SecurityHeaders::trusted_proxies))
/// says `X-Forwarded-Proto: https` or `Forwarded: proto=https`. [`always`](Hsts::always) sends it on
/// every response, for a service that only HTTPS proxies can reach.
///
/// # Example
///
/// ```
/// use rampart_headers::Hsts;
///
/// assert_eq!(Hsts::one_year().value(), "max-age=31536000; includeSubDomains");
/// let preload = Hsts::two_years().preload(true);
/// assert_eq!(preload.value(), "max-age=63072000; includeSubDomains; preload");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Hsts {
    max_age: u64,
    include_subdomains: bool,
    preload: bool,
    always: bool,
}

/// One year, in seconds: the presets' `max-age`, and the least the preload
/// list accepts.
const ONE_YEAR: u64 = 31_536_000;

impl Hsts {
    /// `max-age` of this duration (whole seconds), without `includeSubDomains`.
    pub const fn new(max_age: Duration) -> Self {
        Self {
            max_age: max_age.as_secs(),
            include_subdomains: false,
            preload: false,
            always: false,
        }
    }

    /// `max-age=31536000; includeSubDomains`: the presets' value.
    pub const fn one_year() -> Self {
        Self::new(Duration::from_secs(ONE_YEAR)).include_subdomains(true)
    }

    /// `max-age=63072000; includeSubDomains`: what hstspreload.org recommends.
    pub const fn two_years() -> Self {
        Self::new(Duration::from_secs(2 * ONE_YEAR)).include_subdomains(true)
    }

    /// Adds or drops `includeSubDomains`: every subdomain is HTTPS-only too.
    pub const fn include_subdomains(mut self, yes: bool) -> Self {
        self.include_subdomains = yes;
        self
    }

    /// Adds or drops `preload`: consent to the browsers' built-in list. Needs
    /// `includeSubDomains` and a year or more, checked when the layer is built.
    pub const fn preload(mut self, yes: bool) -> Self {
        self.preload = yes;
        self
    }

    /// Sends the header on every response, HTTPS or not.
    pub const fn always(mut self, yes: bool) -> Self {
        self.always = yes;
        self
    }

    /// The `max-age` in seconds.
    pub const fn max_age(&self) -> u64 {
        self.max_age
    }

    /// Whether the header goes on every response.
    pub const fn is_always(&self) -> bool {
        self.always
    }

    /// The header value.
    pub fn value(&self) -> HeaderValue {
        let mut text = format!("max-age={}", self.max_age);
        if self.include_subdomains {
            text.push_str("; includeSubDomains");
        }
        if self.preload {
            text.push_str("; preload");
        }
        // Digits and fixed ASCII words.
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("max-age=31536000"))
    }

    pub(crate) fn validate(&self) -> Result<(), SecurityHeadersConfigError> {
        if self.preload && (!self.include_subdomains || self.max_age < ONE_YEAR) {
            return Err(SecurityHeadersConfigError::HstsPreload {
                max_age: self.max_age,
                include_subdomains: self.include_subdomains,
            });
        }
        Ok(())
    }
}

/// Whether the request reached us over HTTPS, as far as we can trust.
pub(crate) fn is_https<B>(request: &Request<B>, proxies: &TrustedProxies) -> bool {
    if request.uri().scheme() == Some(&Scheme::HTTPS)
        || request.extensions().get::<HttpsConnection>().is_some()
    {
        return true;
    }
    if proxies.is_empty() {
        return false;
    }
    let from_proxy =
        rampart_core::peer_addr(request).is_some_and(|peer| proxies.contains(peer.ip()));
    // The last entry is the one the trusted proxy next to us wrote; earlier
    // ones may come from the client. (Getting this wrong costs little: browsers
    // ignore HSTS received over plain HTTP.)
    if !from_proxy {
        return false;
    }
    let headers = request.headers();
    let last = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
    };
    let x_forwarded = last("x-forwarded-proto").map(str::trim);
    // RFC 7239: the last element's `proto` parameter, possibly quoted.
    let forwarded = last("forwarded").and_then(|element| {
        element.split(';').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("proto")
                .then(|| value.trim().trim_matches('"'))
        })
    });
    [x_forwarded, forwarded]
        .into_iter()
        .flatten()
        .any(|proto| proto.eq_ignore_ascii_case("https"))
}
