//! The response body: ends the request's measurement when it ends or is dropped.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::recorder::Tracker;

pin_project! {
    /// Response body of [`MetricsService`](crate::MetricsService): the
    /// inner body, unchanged, which records the request when its last frame
    /// has been read, when it fails, or when it is dropped unfinished (a
    /// client that went away mid-body), whichever comes first.
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use http_body_util::BodyExt;
    /// use rampart_metrics::{Format, Metrics};
    /// use tower::{Layer, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let metrics = Metrics::new();
    /// let service = metrics.layer().layer(service_fn(|_req: Request<String>| async {
    ///     Ok::<_, Infallible>(Response::new(String::from("abc")))
    /// }));
    /// let body = service.oneshot(Request::get("/").body(String::new()).unwrap()).await.unwrap().into_body();
    /// assert!(metrics.encode(Format::Text).contains("http_requests_in_flight 1"));
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
    /// assert!(metrics.encode(Format::Text).contains("http_requests_in_flight 0"));
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        tracker: Option<Tracker>,
    }
}

impl<B> MetricsBody<B> {
    pub(crate) fn new(inner: B, tracker: Option<Tracker>) -> Self {
        Self { inner, tracker }
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let frame = ready!(inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(tracker), Some(data)) = (this.tracker.as_mut(), frame.data_ref()) {
                    tracker.add_response_bytes(data.remaining());
                }
                // A server need not poll again after the last frame.
                if inner.is_end_stream() {
                    drop(this.tracker.take());
                }
            }
            // The end, or an error that ends it: recorded now, not when the
            // server gets round to dropping the body.
            Some(Err(_)) | None => drop(this.tracker.take()),
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
