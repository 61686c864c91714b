//! The response future: waits for the store when it must, then calls the
//! inner service or answers the rejection.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::{Request, Response};
use pin_project_lite::pin_project;
use rampart_core::ResponseBody;
use tower_service::Service;

use crate::StoreFuture;
use crate::{
    layer::{Applied, Shared},
    respond::{self, Decision, HeaderSet},
};

pin_project! {
    /// The response future of [`RateLimitService`](crate::RateLimitService).
    pub struct ResponseFuture<F, S, ReqB, ResB> {
        #[pin]
        state: State<F, S, ReqB, ResB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, ReqB, ResB> {
        // Boxed: only a store that does I/O gets here (and it allocates
        // already); unboxed, it would make every response future, the
        // memory store's too, as large as a request plus a service.
        Waiting {
            waiting: Box<Waiting<S, ReqB>>,
        },
        // The inner service's future, its response to go out as it is: the
        // common case (an admitted request without fields), apart so that
        // neither its poll nor its drop looks at headers.
        Quiet {
            #[pin]
            future: F,
        },
        // The headers and the rejection are boxed so that this future stays
        // the size of the inner one: it is moved (copied) several times on
        // its way to being pinned, and an admitted request without fields,
        // the common case, carries neither.
        Inner {
            #[pin]
            future: F,
            headers: Option<Box<HeaderSet>>,
        },
        Rejected {
            response: Option<Box<Response<ResponseBody<ResB>>>>,
        },
    }
}

/// `headers` boxed for the response future, or `None` when there are none.
pub(crate) fn boxed(headers: HeaderSet) -> Option<Box<HeaderSet>> {
    (!headers.is_empty()).then(|| Box::new(headers))
}

struct Waiting<S, ReqB> {
    decision: StoreFuture,
    service: Option<S>,
    request: Option<Request<ReqB>>,
    applied: Applied,
    shared: Arc<Shared>,
}

impl<F, S, ReqB, ResB> ResponseFuture<F, S, ReqB, ResB> {
    /// The inner service's future, `headers` (if any) to be added to its
    /// response. Boxed by the caller, before it calls the inner service:
    /// then nothing between that call and this one needs the future kept
    /// aside, and it is built in place rather than copied in.
    #[inline(always)]
    pub(crate) fn with(future: F, headers: Option<Box<HeaderSet>>) -> Self {
        Self {
            state: match headers {
                None => State::Quiet { future },
                headers => State::Inner { future, headers },
            },
        }
    }

    pub(crate) fn rejected(response: Response<ResponseBody<ResB>>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(Box::new(response)),
            },
        }
    }

    pub(crate) fn waiting(
        decision: StoreFuture,
        service: S,
        request: Request<ReqB>,
        applied: Applied,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            state: State::Waiting {
                waiting: Box::new(Waiting {
                    decision,
                    service: Some(service),
                    request: Some(request),
                    applied,
                    shared,
                }),
            },
        }
    }
}

impl<F, S, ReqB, ResB> fmt::Debug for ResponseFuture<F, S, ReqB, ResB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Waiting { .. } => "ResponseFuture::Waiting",
            State::Quiet { .. } | State::Inner { .. } => "ResponseFuture::Inner",
            State::Rejected { .. } => "ResponseFuture::Rejected",
        })
    }
}

impl<F, S, ReqB, ResB, E> Future for ResponseFuture<F, S, ReqB, ResB>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    S: Service<Request<ReqB>, Response = Response<ResB>, Error = E, Future = F>,
{
    type Output = Result<Response<ResponseBody<ResB>>, E>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The inner service's future, the admitted request's path, is
        // polled here; the rest (waiting for the store, a rejection) is out
        // of line so that this stays small where it is inlined.
        match self.as_mut().project().state.project() {
            StateProj::Quiet { future } => {
                let response = ready!(future.poll(cx))?;
                return Poll::Ready(Ok(response.map(ResponseBody::new)));
            }
            StateProj::Inner { future, headers } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(headers) = headers.take() {
                    headers.apply(response.headers_mut());
                }
                return Poll::Ready(Ok(response.map(ResponseBody::new)));
            }
            _ => {}
        }
        self.poll_other(cx)
    }
}

impl<F, S, ReqB, ResB, E> ResponseFuture<F, S, ReqB, ResB>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    S: Service<Request<ReqB>, Response = Response<ResB>, Error = E, Future = F>,
{
    /// [`Future::poll`] in the states other than `Inner`.
    #[cold]
    #[inline(never)]
    fn poll_other(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response<ResponseBody<ResB>>, E>> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Waiting { waiting } => {
                    let Waiting {
                        decision,
                        service,
                        request,
                        applied,
                        shared,
                    } = &mut **waiting;
                    let result = ready!(Pin::new(decision).poll(cx));
                    match respond::decide(shared, applied, result.as_deref()) {
                        Decision::Reject(response) => {
                            self.as_mut().project().state.set(State::Rejected {
                                response: Some(Box::new(response)),
                            });
                        }
                        Decision::Pass(headers) => {
                            let (Some(mut service), Some(request)) =
                                (service.take(), request.take())
                            else {
                                panic!("rate limit future polled after completion");
                            };
                            let future = service.call(request);
                            self.as_mut().project().state.set(State::Inner {
                                future,
                                headers: boxed(headers),
                            });
                            return self.poll(cx);
                        }
                    }
                }
                StateProj::Quiet { .. } | StateProj::Inner { .. } => return self.poll(cx),
                StateProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("rate limit future polled after completion");
                    return Poll::Ready(Ok(*response));
                }
            }
        }
    }
}
