//! The decisions: what a preflight is answered, and which headers an actual
//! response gets. Pure functions of the policy and the request's headers.

use std::fmt;

use http::{
    HeaderMap, HeaderValue, Response, StatusCode,
    header::{
        ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
        ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
        ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
        CONTENT_TYPE, VARY,
    },
};
use rampart_core::{PROBLEM_JSON, Problem, ResponseBody};

use crate::policy::{Origins, Policy, SAFELISTED_METHODS};

const REQUEST_PRIVATE_NETWORK: &str = "access-control-request-private-network";
const ALLOW_PRIVATE_NETWORK: &str = "access-control-allow-private-network";
const TRUE: HeaderValue = HeaderValue::from_static("true");
const ANY: HeaderValue = HeaderValue::from_static("*");

/// Why a preflight was refused; borrowed from the request, formatted only in debug mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection<'a> {
    MultipleOrigins,
    OriginNotAllowed(&'a [u8]),
    MultipleMethods,
    MethodNotAllowed(&'a [u8]),
    MalformedRequestHeaders(&'a [u8]),
    HeaderNotAllowed(&'a [u8]),
}

/// At most this much of a request's value is echoed in a debug explanation.
const ECHO_LIMIT: usize = 128;

struct Echo<'a>(&'a [u8]);

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = &self.0[..self.0.len().min(ECHO_LIMIT)];
        write!(f, "{:?}", String::from_utf8_lossy(cut))?;
        if cut.len() < self.0.len() {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Display for Rejection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::MultipleOrigins => f.write_str("the request has more than one Origin header"),
            Self::OriginNotAllowed(o) => write!(f, "origin {} is not allowed", Echo(o)),
            Self::MultipleMethods => {
                f.write_str("the request has more than one Access-Control-Request-Method header")
            }
            Self::MethodNotAllowed(m) => write!(f, "method {} is not allowed", Echo(m)),
            Self::MalformedRequestHeaders(v) => write!(
                f,
                "Access-Control-Request-Headers {} is not a list of header names",
                Echo(v)
            ),
            Self::HeaderNotAllowed(h) => write!(f, "request header {} is not allowed", Echo(h)),
        }
    }
}

impl Rejection<'_> {
    fn code(self) -> &'static str {
        match self {
            Self::MultipleOrigins => "multiple-origins",
            Self::OriginNotAllowed(_) => "origin-not-allowed",
            Self::MultipleMethods => "multiple-methods",
            Self::MethodNotAllowed(_) => "method-not-allowed",
            Self::MalformedRequestHeaders(_) => "malformed-request-headers",
            Self::HeaderNotAllowed(_) => "header-not-allowed",
        }
    }
}

/// The CORS headers an actual response gets, decided in `call`, applied when
/// the inner service answers.
#[derive(Debug, Clone)]
pub(crate) struct Decoration {
    allow_origin: Option<HeaderValue>,
    credentials: bool,
    expose: Option<HeaderValue>,
    vary: bool,
}

impl Decoration {
    pub(crate) fn allows_origin(&self) -> bool {
        self.allow_origin.is_some()
    }

    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        if let Some(origin) = self.allow_origin {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if self.credentials {
                headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
            }
            if let Some(expose) = self.expose {
                headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose);
            }
        }
        if self.vary {
            vary_origin(headers);
        }
    }
}

/// Appends `Origin` to `Vary` unless an existing `Vary` already names it (in
/// any case, in any line of a list) or is `*`.
pub(crate) fn vary_origin(headers: &mut HeaderMap) {
    for value in headers.get_all(VARY) {
        for item in value.as_bytes().split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.eq_ignore_ascii_case(b"origin") || item == b"*" {
                return;
            }
        }
    }
    headers.append(VARY, HeaderValue::from_static("Origin"));
}

impl Policy {
    /// For a request without `Origin`: no CORS headers, but a cache must still
    /// learn that the answer depends on `Origin`, or it would serve this
    /// response to a cross-origin request later.
    pub(crate) fn without_origin(&self) -> Decoration {
        Decoration {
            allow_origin: None,
            credentials: false,
            expose: None,
            vary: matches!(self.origins, Origins::List(_)),
        }
    }

    /// For an actual (non-preflight) request with one `Origin` header, or
    /// `None` when it had several.
    pub(crate) fn actual(&self, origin: Option<&HeaderValue>) -> Decoration {
        let (allow_origin, vary) = match (&self.origins, origin) {
            (Origins::Any, _) => (Some(ANY), false),
            (Origins::List(list), Some(origin)) => match list.exact_value(origin.as_bytes()) {
                Some(value) => (Some(value.clone()), true),
                None if list.matches(origin.as_bytes()) => (Some(origin.clone()), true),
                None => (None, true),
            },
            (Origins::List(_), _) => (None, true),
        };
        Decoration {
            allow_origin,
            credentials: self.credentials,
            expose: self.expose.clone(),
            vary,
        }
    }

    /// The answer to a preflight: `origin` is `None` when the request had
    /// several `Origin` headers.
    pub(crate) fn preflight<B>(
        &self,
        origin: Option<&HeaderValue>,
        headers: &HeaderMap,
        debug: bool,
    ) -> Response<ResponseBody<B>> {
        match self.check_preflight(origin, headers) {
            Ok(allowed) => allowed,
            Err(rejection) => self.reject(rejection, debug),
        }
    }

    fn check_preflight<'a, B>(
        &self,
        origin: Option<&'a HeaderValue>,
        headers: &'a HeaderMap,
    ) -> Result<Response<ResponseBody<B>>, Rejection<'a>> {
        let origin = origin.ok_or(Rejection::MultipleOrigins)?;
        let allow_origin = match &self.origins {
            Origins::Any => ANY,
            Origins::List(list) => match list.exact_value(origin.as_bytes()) {
                Some(value) => value.clone(),
                None if list.matches(origin.as_bytes()) => origin.clone(),
                None => return Err(Rejection::OriginNotAllowed(origin.as_bytes())),
            },
        };

        let mut methods = headers.get_all(ACCESS_CONTROL_REQUEST_METHOD).iter();
        let method = methods.next().map_or(&b""[..], HeaderValue::as_bytes);
        if methods.next().is_some() {
            return Err(Rejection::MultipleMethods);
        }
        let allow_method = if SAFELISTED_METHODS.contains(&method) {
            None
        } else if let Some((_, value)) = self
            .methods
            .iter()
            .find(|(m, _)| m.as_str().as_bytes() == method)
        {
            Some(value.clone())
        } else if self.any_method && is_token(method) {
            headers.get(ACCESS_CONTROL_REQUEST_METHOD).cloned()
        } else {
            return Err(Rejection::MethodNotAllowed(method));
        };

        let mut requested_headers = false;
        for value in headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
            for name in value.as_bytes().split(|&b| b == b',') {
                let name = name.trim_ascii();
                if name.is_empty() {
                    continue;
                }
                if !is_token(name) {
                    return Err(Rejection::MalformedRequestHeaders(value.as_bytes()));
                }
                if !self.headers.allows(name) {
                    return Err(Rejection::HeaderNotAllowed(name));
                }
                requested_headers = true;
            }
        }

        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        // Sized once for the at most seven headers below: no regrowth.
        *response.headers_mut() = HeaderMap::with_capacity(8);
        let out = response.headers_mut();
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        if let Some(method) = allow_method {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, method);
        }
        if requested_headers {
            match (&self.headers.listed, self.headers.any) {
                // Every requested name is among the listed ones: answer the list.
                (Some(listed), false) => {
                    out.insert(ACCESS_CONTROL_ALLOW_HEADERS, listed.clone());
                }
                // With `*`, echo the request's own lines (a browser joins
                // them); every name in them was checked above.
                _ => {
                    for value in headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
                        out.append(ACCESS_CONTROL_ALLOW_HEADERS, value.clone());
                    }
                }
            }
        }
        if let Some(max_age) = &self.max_age {
            out.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        if self.private_network
            && headers
                .get(REQUEST_PRIVATE_NETWORK)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
        {
            out.insert(ALLOW_PRIVATE_NETWORK, TRUE);
        }
        out.insert(VARY, self.preflight_vary.clone());
        Ok(response)
    }

    /// 403 with no CORS header at all, so that the browser fails the
    /// preflight; the body explains why only in debug mode.
    fn reject<B>(&self, rejection: Rejection<'_>, debug: bool) -> Response<ResponseBody<B>> {
        if debug {
            let mut response = Problem::new(StatusCode::FORBIDDEN)
                .with_title("CORS preflight rejected")
                .with_detail(rejection.to_string())
                .with_extension("reason", rejection.code())
                .into_rejection();
            response
                .headers_mut()
                .insert(VARY, self.preflight_vary.clone());
            return response;
        }
        let mut response = Response::new(ResponseBody::full(self.rejection_body.clone()));
        *response.status_mut() = StatusCode::FORBIDDEN;
        let out = response.headers_mut();
        out.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        out.insert(VARY, self.preflight_vary.clone());
        response
    }
}

/// RFC 9110 `token`: what a method or a header name may consist of.
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_is_appended_once() {
        let mut headers = HeaderMap::new();
        vary_origin(&mut headers);
        vary_origin(&mut headers);
        assert_eq!(headers.get_all(VARY).iter().collect::<Vec<_>>(), ["Origin"]);

        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        vary_origin(&mut headers);
        assert_eq!(
            headers.get_all(VARY).iter().collect::<Vec<_>>(),
            ["Accept-Encoding", "Origin"]
        );

        for existing in ["accept, ORIGIN", " origin ", "*"] {
            let mut headers = HeaderMap::new();
            headers.insert(VARY, HeaderValue::from_static(existing));
            vary_origin(&mut headers);
            assert_eq!(headers.get_all(VARY).iter().count(), 1, "{existing}");
        }
    }

    #[test]
    fn tokens() {
        assert!(is_token(b"x-api-key"));
        assert!(is_token(b"PATCH"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token("é".as_bytes()));
    }

    #[test]
    fn debug_echo_is_bounded_and_quoted() {
        let long = vec![b'a'; 1000];
        let text = Rejection::OriginNotAllowed(&long).to_string();
        assert!(text.len() < 200 && text.contains("..."), "{text}");
        let text = Rejection::HeaderNotAllowed(b"x-\"evil\"").to_string();
        assert!(text.contains(r#""x-\"evil\"""#), "{text}");
    }
}
