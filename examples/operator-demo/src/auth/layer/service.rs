//! [`Auth`]: verifies the bearer token of each request.

use std::task::{Context, Poll};

use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use rampart::core::{Problem, ResponseBody};
use tower::Service;

use super::{AuthLayer, ResponseFuture};
use crate::auth::{TokenError, TokenVerifier};

/// Middleware which verifies `Authorization: Bearer` tokens: see
/// [`AuthLayer`] for what it does with each kind of request.
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    verifier: TokenVerifier,
}

impl<S> Auth<S> {
    /// Wraps `inner`, verifying with `verifier`.
    ///
    /// ```
    /// use operator_demo::auth::{Auth, Keys, TokenSettings, TokenVerifier};
    ///
    /// let verifier = TokenVerifier::new(&Keys::generate(), &TokenSettings::default());
    /// let service = Auth::new(7, verifier);
    /// assert_eq!(*service.get_ref(), 7);
    /// ```
    pub fn new(inner: S, verifier: TokenVerifier) -> Self {
        Self { inner, verifier }
    }

    /// An [`AuthLayer`] verifying with `verifier`.
    ///
    /// ```
    /// use operator_demo::auth::{Auth, Keys, TokenSettings, TokenVerifier};
    ///
    /// let layer = Auth::<()>::layer(TokenVerifier::new(&Keys::generate(), &TokenSettings::default()));
    /// # let _ = layer;
    /// ```
    pub fn layer(verifier: TokenVerifier) -> AuthLayer {
        AuthLayer::new(verifier)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use operator_demo::auth::{Auth, Keys, TokenSettings, TokenVerifier};
    ///
    /// let verifier = TokenVerifier::new(&Keys::generate(), &TokenSettings::default());
    /// let mut service = Auth::new(7, verifier);
    /// *service.get_mut() = 8;
    /// assert_eq!(service.into_inner(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// What the `Authorization` headers of a request say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// No header, or a scheme this layer does not handle.
    None,
    /// One `Bearer` header with this token.
    Bearer(&'a str),
    /// Something that claims to be a bearer token but cannot be one.
    Invalid,
}

/// Reads the request's `Authorization` headers ([RFC 9110 §11.6.2],
/// [RFC 6750 §2.1]): the scheme is case-insensitive, one or more spaces
/// follow it, the token is `b64token` characters.
///
/// [RFC 9110 §11.6.2]: https://www.rfc-editor.org/rfc/rfc9110#section-11.6.2
/// [RFC 6750 §2.1]: https://www.rfc-editor.org/rfc/rfc6750#section-2.1
pub(crate) fn credentials(headers: &axum::http::HeaderMap) -> Credentials<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Credentials::None;
    };
    if values.next().is_some() {
        // Two credentials: which one a proxy or a framework reads differs,
        // so neither is believed.
        return Credentials::Invalid;
    }
    let bytes = value.as_bytes();
    let scheme_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    if !bytes[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        return Credentials::None;
    }
    let token = bytes[scheme_end..].trim_ascii();
    let b64token = |b: &u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(b);
    if token.is_empty() || !token.iter().all(b64token) {
        return Credentials::Invalid;
    }
    // Only ASCII remains, so this cannot fail.
    std::str::from_utf8(token).map_or(Credentials::Invalid, Credentials::Bearer)
}

/// The 401 of a bearer token that is not accepted ([RFC 6750 §3.1]).
///
/// [RFC 6750 §3.1]: https://www.rfc-editor.org/rfc/rfc6750#section-3.1
pub(crate) fn unauthorized<B>(error: Option<&TokenError>) -> Response<ResponseBody<B>> {
    let detail = match error {
        Some(error) => error.to_string(),
        None => "the Authorization header is not a single bearer token".to_owned(),
    };
    let mut response = Problem::new(StatusCode::UNAUTHORIZED)
        .with_detail(detail)
        .into_rejection();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    );
    response
}

impl<S, B, ResBody> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match credentials(request.headers()) {
            Credentials::None => {}
            Credentials::Invalid => return ResponseFuture::reject(unauthorized(None)),
            Credentials::Bearer(token) => match self.verifier.verify(token) {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                }
                Err(error) => {
                    tracing::debug!(%error, "bearer token refused");
                    return ResponseFuture::reject(unauthorized(Some(&error)));
                }
            },
        }
        ResponseFuture::inner(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(values: &[&[u8]]) -> String {
        let mut headers = axum::http::HeaderMap::new();
        for value in values {
            headers.append(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        format!("{:?}", credentials(&headers))
    }

    #[test]
    fn schemes_and_spacing() {
        assert_eq!(parse(&[]), "None");
        assert_eq!(parse(&[b"Bearer abc.def.ghi"]), r#"Bearer("abc.def.ghi")"#);
        assert_eq!(parse(&[b"bEaReR   abc"]), r#"Bearer("abc")"#);
        assert_eq!(parse(&[b"Basic dXNlcjpwdw=="]), "None");
        assert_eq!(parse(&[b"Bearerabc"]), "None");
        assert_eq!(parse(&[b"Bearer"]), "Invalid");
        assert_eq!(parse(&[b"Bearer "]), "Invalid");
        assert_eq!(parse(&[b"Bearer a b"]), "Invalid");
        assert_eq!(parse(&[b"Bearer \xff\xfe"]), "Invalid");
        assert_eq!(parse(&[b"Bearer a", b"Bearer a"]), "Invalid");
        assert_eq!(parse(&[b"Basic x", b"Bearer a"]), "Invalid");
    }

    proptest! {
        #[test]
        fn any_header_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = axum::http::HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                let _ = credentials(&headers);
            }
        }

        #[test]
        fn bearer_prefix_then_anything(rest in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = b"Bearer ".to_vec();
            bytes.extend(rest);
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = axum::http::HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                prop_assert_ne!(format!("{:?}", credentials(&headers)), "None");
            }
        }
    }
}
