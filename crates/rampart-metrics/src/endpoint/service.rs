//! The `/metrics` endpoint.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use tower_service::Service;

use super::guard::{Guard, Rejection};
use crate::{BasicAuth, Format, GuardError, IpAllowList, Metrics};

/// A Tower service that answers a scrape with every metric of a [`Metrics`]
/// registry, in the format the `Accept` header prefers: OpenMetrics 1.0.0 or
/// the Prometheus text format 0.0.4 (the default, also for a missing or
/// malformed `Accept`). `GET` and `HEAD` only (else 405).
///
/// Optionally guarded: by an [`IpAllowList`] (403 to anyone else) and/or by
/// [`BasicAuth`] (401 with `WWW-Authenticate`); both rejections are
/// `application/problem+json`. With both, the address is checked first.
///
/// With axum: `Router::new().route_service("/metrics", metrics.service())`.
///
/// # Example
///
/// ```
/// use http::{Request, StatusCode, header};
/// use http_body_util::BodyExt;
/// use rampart_metrics::{Metrics, MetricsEndpoint};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let metrics = Metrics::new();
/// let service = MetricsEndpoint::new(&metrics).allow_ips("127.0.0.1, 10.0.0.0/8".parse().unwrap());
///
/// let mut request = Request::get("/metrics")
///     .header(header::ACCEPT, "application/openmetrics-text; version=1.0.0")
///     .body(())
///     .unwrap();
/// request.extensions_mut().insert(std::net::SocketAddr::from(([127, 0, 0, 1], 40000)));
/// let response = service.clone().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(
///     response.headers()[header::CONTENT_TYPE],
///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
/// );
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert!(body.ends_with(b"# EOF\n"));
///
/// // No known address: refused.
/// let response = service.oneshot(Request::get("/metrics").body(()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), StatusCode::FORBIDDEN);
/// assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsEndpoint {
    metrics: Metrics,
    guard: Guard,
}

const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD");
const CHALLENGE: HeaderValue =
    HeaderValue::from_static("Basic realm=\"metrics\", charset=\"UTF-8\"");

impl MetricsEndpoint {
    /// The endpoint of `metrics`, open to anyone who reaches it.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            metrics: metrics.clone(),
            guard: Guard::default(),
        }
    }

    /// Answers only clients inside `list`; others get 403.
    pub fn allow_ips(mut self, list: IpAllowList) -> Self {
        self.guard.allow = Some(list);
        self
    }

    /// Answers only requests with these basic-auth credentials; others get 401.
    pub fn basic_auth(mut self, credentials: BasicAuth) -> Self {
        self.guard.auth = Some(credentials);
        self
    }

    /// Adds the guards the environment asks for: `METRICS_ALLOWED_IPS`
    /// (addresses and CIDR networks, comma-separated) and
    /// `METRICS_BASIC_AUTH_USER` with `METRICS_BASIC_AUTH_PASSWORD`. Unset
    /// or empty variables add nothing; a bad value, or one half of the
    /// credentials without the other, is an error that names it.
    ///
    /// ```no_run
    /// // METRICS_ALLOWED_IPS=10.0.0.0/8,127.0.0.1
    /// let metrics = rampart_metrics::Metrics::new();
    /// let endpoint = metrics.service().guard_from_env().expect("metrics guard configuration");
    /// # let _ = endpoint;
    /// ```
    pub fn guard_from_env(self) -> Result<Self, GuardError> {
        self.guard_from(|name| std::env::var(name).ok())
    }

    /// [`guard_from_env`](Self::guard_from_env) with the variables read
    /// through `lookup`: for tests, or another source of settings.
    ///
    /// ```
    /// use rampart_metrics::{GuardError, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// let lookup = |name: &str| match name {
    ///     "METRICS_ALLOWED_IPS" => Some("10.0.0.0/8".to_owned()),
    ///     "METRICS_BASIC_AUTH_USER" => Some("prometheus".to_owned()),
    ///     _ => None,
    /// };
    /// let err = metrics.service().guard_from(lookup).unwrap_err();
    /// assert_eq!(err, GuardError::EmptyPassword);
    /// ```
    pub fn guard_from(self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, GuardError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut this = self;
        if let Some(list) = get("METRICS_ALLOWED_IPS") {
            this = this.allow_ips(list.parse()?);
        }
        match (
            get("METRICS_BASIC_AUTH_USER"),
            get("METRICS_BASIC_AUTH_PASSWORD"),
        ) {
            (None, None) => {}
            (user, password) => {
                let auth = BasicAuth::new(
                    user.as_deref().unwrap_or_default(),
                    password.as_deref().unwrap_or_default(),
                )?;
                this = this.basic_auth(auth);
            }
        }
        Ok(this)
    }

    fn answer<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if let Some(rejection) = self.guard.check(request) {
            let mut response = rejection.problem().into_response::<Full<Bytes>>();
            if rejection == Rejection::Unauthorized {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, CHALLENGE);
            }
            return response;
        }
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let mut response = rampart_core::Problem::new(StatusCode::METHOD_NOT_ALLOWED)
                    .into_response::<Full<Bytes>>();
                response.headers_mut().insert(header::ALLOW, ALLOW);
                return response;
            }
        };
        let mut values = request.headers().get_all(header::ACCEPT).iter();
        let format = match (values.next(), values.next()) {
            (None, _) => Format::Text,
            (Some(value), None) => Format::from_accept(value.as_bytes()),
            // Several `Accept` lines are one list (RFC 9110 §5.3).
            (Some(first), Some(second)) => {
                let mut joined = first.as_bytes().to_vec();
                for value in std::iter::once(second).chain(values) {
                    joined.push(b',');
                    joined.extend_from_slice(value.as_bytes());
                }
                Format::from_accept(&joined)
            }
        };
        let body = if head {
            Bytes::new()
        } else {
            Bytes::from(self.metrics.encode(format))
        };
        let mut response = Response::new(Full::new(body));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl<B> Service<Request<B>> for MetricsEndpoint {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.answer(&request)))
    }
}
