//! Middleware which answers a request that is not done within a time limit
//! (`HTTP_REQUEST_TIMEOUT_SECS`) with a problem+json instead of holding
//! the connection: `408 Request Timeout` while the request's own body has
//! not all arrived (the client is the slow one, RFC 9110 §15.5.9), else
//! `503 Service Unavailable` (the server is).
//!
//! tower-http's `TimeoutLayer` answers an empty 408 to both; this one says
//! which, in the house [`Problem`] shape, and keeps the inner service's
//! error type. The 408 carries `Connection: close`: the rest of the body
//! will not be read.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::{convert::Infallible, time::Duration};
//!
//! use axum::{body::Body, http::{Request, Response}};
//! use operator_demo::timeout::RequestTimeoutLayer;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! let slow = service_fn(|_: Request<Body>| async {
//!     tokio::time::sleep(Duration::from_secs(60)).await;
//!     Ok::<_, Infallible>(Response::new(Body::empty()))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(RequestTimeoutLayer::new(Duration::from_millis(10)))
//!     .service(slow);
//! let response = service.oneshot(Request::new(Body::empty())).await.unwrap();
//! assert_eq!(response.status(), 503);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//! # }
//! ```

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    http::{HeaderValue, Request, Response, StatusCode, header},
};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use rampart::core::{Problem, ResponseBody};
use tokio::time::Sleep;
use tower::{Layer, Service};

/// Applies [`RequestTimeoutService`]: see the [module docs](self).
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct RequestTimeoutLayer {
    timeout: Duration,
}

impl RequestTimeoutLayer {
    /// Answers a request not done within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// The time limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeoutService {
            inner,
            timeout: self.timeout,
        }
    }
}

/// A service whose requests are answered within a time limit.
#[derive(Debug, Clone)]
pub struct RequestTimeoutService<S> {
    inner: S,
    timeout: Duration,
}

impl<S> RequestTimeoutService<S> {
    /// The layer, as in tower-http.
    pub fn layer(timeout: Duration) -> RequestTimeoutLayer {
        RequestTimeoutLayer::new(timeout)
    }
}

impl<S, B> Service<Request<Body>> for RequestTimeoutService<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
{
    type Response = Response<ResponseBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // Only a request with a body to wait for is watched (no allocation
        // for a GET).
        let (request, body_arrived) = if request.body().is_end_stream() {
            (request, None)
        } else {
            let arrived = Arc::new(AtomicBool::new(false));
            let request = request.map(|body| {
                Body::new(Watched {
                    inner: body,
                    arrived: arrived.clone(),
                })
            });
            (request, Some(arrived))
        };
        ResponseFuture {
            inner: self.inner.call(request),
            sleep: tokio::time::sleep(self.timeout),
            body_arrived,
            timeout: self.timeout,
        }
    }
}

pin_project! {
    /// The response, or the timeout's problem.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        body_arrived: Option<Arc<AtomicBool>>,
        timeout: Duration,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(response) = this.inner.poll(cx) {
            return Poll::Ready(response.map(|response| response.map(ResponseBody::new)));
        }
        ready!(this.sleep.poll(cx));
        let body_missing = this
            .body_arrived
            .as_ref()
            .is_some_and(|arrived| !arrived.load(Ordering::Acquire));
        Poll::Ready(Ok(timed_out(*this.timeout, body_missing)))
    }
}

fn timed_out<B>(timeout: Duration, body_missing: bool) -> Response<ResponseBody<B>> {
    if body_missing {
        let mut response = Problem::new(StatusCode::REQUEST_TIMEOUT)
            .with_detail(format!(
                "the request body did not arrive within {timeout:?}"
            ))
            .into_rejection();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    } else {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!("the request was not answered within {timeout:?}"))
            .into_rejection()
    }
}

pin_project! {
    /// A request body that says when it has all arrived.
    struct Watched {
        #[pin]
        inner: Body,
        arrived: Arc<AtomicBool>,
    }
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if frame.is_none() || this.inner.is_end_stream() {
            this.arrived.store(true, Ordering::Release);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use tower::{ServiceExt, service_fn};

    use super::*;

    /// Reads the whole body, then takes `work` more.
    fn handler(
        work: Duration,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
    {
        service_fn(move |request: Request<Body>| async move {
            let body = request.into_body().collect().await.unwrap().to_bytes();
            tokio::time::sleep(work).await;
            Ok::<_, Infallible>(Response::new(Body::from(body)))
        })
    }

    async fn problem<B: HttpBody<Error: std::fmt::Debug>>(
        response: Response<B>,
    ) -> serde_json::Value {
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn in_time_is_the_inner_response() {
        let service = RequestTimeoutLayer::new(Duration::from_secs(5))
            .layer(handler(Duration::from_millis(10)));
        let response = service
            .oneshot(Request::new(Body::from("hello")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "hello");
    }

    #[tokio::test]
    async fn a_slow_handler_is_503() {
        let service = RequestTimeoutLayer::new(Duration::from_millis(50))
            .layer(handler(Duration::from_secs(60)));
        let response = service
            .oneshot(Request::new(Body::from("all here")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!response.headers().contains_key(header::CONNECTION));
        assert_eq!(problem(response).await["status"], 503);
    }

    #[tokio::test]
    async fn a_stalled_body_is_408_and_closes() {
        let service =
            RequestTimeoutLayer::new(Duration::from_millis(50)).layer(handler(Duration::ZERO));
        let response = service
            .oneshot(Request::new(Body::new(Stalled(Some(Bytes::from_static(
                b"0123456789",
            ))))))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        let body = problem(response).await;
        assert_eq!(body["status"], 408);
        assert!(body["detail"].as_str().unwrap().contains("50ms"), "{body}");
    }

    /// A body that sends one chunk, then nothing, never ending.
    struct Stalled(Option<Bytes>);

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            match self.0.take() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                None => Poll::Pending,
            }
        }
    }
}
