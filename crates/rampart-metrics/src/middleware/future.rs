//! The response future: moves the tracker into the response body.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::Response;
use pin_project_lite::pin_project;

use crate::{MetricsBody, recorder::Tracker};

pin_project! {
    /// Response future of [`MetricsService`](crate::MetricsService).
    ///
    /// Dropped before the response: the request is recorded as `499`.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        tracker: Option<Tracker>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(future: F, tracker: Tracker) -> Self {
        Self {
            future,
            tracker: Some(tracker),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<MetricsBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        let mut tracker = this.tracker.take();
        match result {
            Ok(response) => {
                if let Some(tracker) = &mut tracker {
                    tracker.respond(&response);
                }
                Poll::Ready(Ok(response.map(|body| MetricsBody::new(body, tracker))))
            }
            Err(error) => {
                if let Some(tracker) = &mut tracker {
                    tracker.fail();
                }
                Poll::Ready(Err(error))
            }
        }
    }
}
