//! The response body that holds the concurrency slot until it ends.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::slots::Slot;

pin_project! {
    /// The body of a response on a concurrency-limited route: the inner
    /// body, holding the tenant's slot until its last frame, an error, or
    /// its drop (a client that disconnects mid-response drops it).
    #[derive(Debug)]
    pub struct QuotaBody<B> {
        #[pin]
        inner: B,
        slot: Option<Slot>,
    }
}

impl<B> QuotaBody<B> {
    pub(crate) fn new(inner: B, slot: Option<Slot>) -> Self {
        Self { inner, slot }
    }
}

impl<B> Body for QuotaBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        match &frame {
            Poll::Ready(None | Some(Err(_))) => drop(this.slot.take()),
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
