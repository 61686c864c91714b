//! The response future: either a preflight answer made in `call`, or the
//! inner service's future, whose response gets the decided CORS headers.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::Response;
use pin_project_lite::pin_project;
use rampart_core::ResponseBody;

use crate::decide::Decoration;

pin_project! {
    /// Response future of [`CorsService`](crate::CorsService).
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
        Respond { response: Option<Response<ResponseBody<B>>> },
        Inner { #[pin] future: F, decoration: Option<Decoration> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn respond(response: Response<ResponseBody<B>>) -> Self {
        Self {
            state: State::Respond {
                response: Some(response),
            },
        }
    }

    pub(crate) fn inner(future: F, decoration: Decoration) -> Self {
        Self {
            state: State::Inner {
                future,
                decoration: Some(decoration),
            },
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
            StateProj::Respond { response } => {
                // Polled again after `Ready` only by a misbehaving caller: answer
                // with an empty response rather than panic.
                Poll::Ready(Ok(response
                    .take()
                    .unwrap_or_else(|| Response::new(ResponseBody::empty()))))
            }
            StateProj::Inner { future, decoration } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(decoration) = decoration.take() {
                    decoration.apply(response.headers_mut());
                }
                Poll::Ready(Ok(response.map(ResponseBody::new)))
            }
        }
    }
}
