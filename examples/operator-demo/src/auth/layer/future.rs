//! The response future: a 401 decided in `call`, or the inner service's.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::http::Response;
use pin_project_lite::pin_project;
use rampart::core::ResponseBody;

pin_project! {
    /// Response future of [`Auth`](super::Auth).
    #[derive(Debug)]
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F, B> {
        Reject { response: Option<Response<ResponseBody<B>>> },
        Inner { #[pin] future: F },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(super) fn reject(response: Response<ResponseBody<B>>) -> Self {
        Self {
            state: State::Reject {
                response: Some(response),
            },
        }
    }

    pub(super) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Reject { response } => {
                // Polled again after `Ready` only by a misbehaving caller: an
                // empty response rather than a panic.
                Poll::Ready(Ok(response
                    .take()
                    .unwrap_or_else(|| Response::new(ResponseBody::empty()))))
            }
            StateProj::Inner { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(ResponseBody::new)))
            }
        }
    }
}
