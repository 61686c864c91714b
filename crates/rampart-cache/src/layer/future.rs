//! The response future: a response made in `call` (a hit), the inner
//! service's future (passed on), or the miss path (boxed: it waits on the
//! store, the flight and the body, and a miss is not the hot path).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::{HeaderValue, Response};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::CacheBody;

pub(crate) type BoxedMiss<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<CacheBody<B>>, E>> + Send>>;

pin_project! {
    /// Response future of [`CacheService`](crate::CacheService).
    pub struct ResponseFuture<F, B: Body, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B: Body, E> {
        Ready { response: Option<Response<CacheBody<B>>> },
        Inner { #[pin] future: F, status: Option<HeaderValue> },
        Miss { future: BoxedMiss<B, E> },
    }
}

impl<F, B: Body, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready { .. } => "ready",
            State::Inner { .. } => "inner",
            State::Miss { .. } => "miss",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, B: Body, E> ResponseFuture<F, B, E> {
    pub(crate) fn ready(response: Response<CacheBody<B>>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    /// The inner service's response, with `Cache-Status: status` if given.
    pub(crate) fn inner(future: F, status: Option<HeaderValue>) -> Self {
        Self {
            state: State::Inner { future, status },
        }
    }

    pub(crate) fn miss(future: BoxedMiss<B, E>) -> Self {
        Self {
            state: State::Miss { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<CacheBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Ready { response } => {
                // Polled again after `Ready` only by a misbehaving caller.
                Poll::Ready(Ok(response
                    .take()
                    .unwrap_or_else(|| Response::new(CacheBody::empty()))))
            }
            StateProj::Inner { future, status } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(status) = status.take() {
                    response
                        .headers_mut()
                        .insert(crate::layer::respond::CACHE_STATUS, status);
                }
                Poll::Ready(Ok(response.map(CacheBody::new)))
            }
            StateProj::Miss { future } => future.as_mut().poll(cx),
        }
    }
}
