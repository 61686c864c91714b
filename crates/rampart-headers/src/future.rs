//! The response future: applies the headers when the response is ready.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::Response;
use pin_project_lite::pin_project;

use crate::{CspNonce, compiled::Selected, layer::Shared};

/// What to apply once the response is there.
#[derive(Debug)]
pub(crate) struct Apply {
    pub(crate) shared: Arc<Shared>,
    pub(crate) selected: Selected,
    pub(crate) https: bool,
    pub(crate) nonce: Option<CspNonce>,
}

pin_project! {
    /// The response future of [`SecurityHeadersService`](crate::SecurityHeadersService).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        apply: Option<Apply>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, apply: Option<Apply>) -> Self {
        Self { inner, apply }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(apply) = this.apply.take() {
            if let Some(compiled) = apply.shared.compiled(apply.selected) {
                compiled.apply(response.headers_mut(), apply.https, apply.nonce.as_ref());
            }
        }
        Poll::Ready(Ok(response))
    }
}
