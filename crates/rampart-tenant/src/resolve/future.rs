//! The response future: waits for the lookup when it must, then runs the
//! inner service in the tenant's scope, or answers the rejection.

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
use tracing::instrument::Instrumented;

use super::{Shared, respond, service::enter};
use crate::{Limits, LookupError, TenantCounter, TenantId, context::WithTenant};

type Lookup = Pin<Box<dyn Future<Output = Result<Option<Arc<Limits>>, LookupError>> + Send>>;

pin_project! {
    /// The response future of [`TenantService`](super::TenantService).
    pub struct ResponseFuture<S, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB, ResB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB, ResB>
    where
        S: Service<Request<ReqB>>,
    {
        // Boxed: only a lookup cache miss gets here, and it allocates
        // already; unboxed, every response future would carry a request
        // and a service.
        Waiting {
            waiting: Box<Waiting<S, ReqB>>,
        },
        Inner {
            #[pin]
            future: Instrumented<WithTenant<S::Future>>,
        },
        Anonymous {
            #[pin]
            future: S::Future,
        },
        // Boxed: a rejection is rare, and a response is the largest thing
        // here; unboxed, every passing request would move its size around.
        Rejected {
            response: Option<Box<Response<ResponseBody<ResB>>>>,
        },
    }
}

struct Waiting<S, ReqB> {
    lookup: Lookup,
    id: Option<TenantId>,
    service: Option<S>,
    request: Option<Request<ReqB>>,
    shared: Arc<Shared>,
}

impl<S, ReqB, ResB> ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>>,
{
    #[inline]
    pub(super) fn inner(future: Instrumented<WithTenant<S::Future>>) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    #[inline]
    pub(super) fn anonymous(future: S::Future) -> Self {
        Self {
            state: State::Anonymous { future },
        }
    }

    pub(super) fn rejected(response: Response<ResponseBody<ResB>>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(Box::new(response)),
            },
        }
    }

    pub(super) fn waiting(
        lookup: Lookup,
        id: TenantId,
        service: S,
        request: Request<ReqB>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            state: State::Waiting {
                waiting: Box::new(Waiting {
                    lookup,
                    id: Some(id),
                    service: Some(service),
                    request: Some(request),
                    shared,
                }),
            },
        }
    }
}

impl<S, ReqB, ResB> fmt::Debug for ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Waiting { .. } => "ResponseFuture::Waiting",
            State::Inner { .. } => "ResponseFuture::Inner",
            State::Anonymous { .. } => "ResponseFuture::Anonymous",
            State::Rejected { .. } => "ResponseFuture::Rejected",
        })
    }
}

impl<S, ReqB, ResB> Future for ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Output = Result<Response<ResponseBody<ResB>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Waiting { waiting } => {
                    let answer = ready!(waiting.lookup.as_mut().poll(cx));
                    let Waiting {
                        id,
                        service,
                        request,
                        shared,
                        ..
                    } = &mut **waiting;
                    let (Some(id), Some(mut service), Some(request)) =
                        (id.take(), service.take(), request.take())
                    else {
                        panic!("tenant future polled after completion");
                    };
                    let next = match answer {
                        Ok(Some(limits)) => State::Inner {
                            future: enter(&mut service, shared, id, limits, request),
                        },
                        Ok(None) => {
                            shared.stats.add(TenantCounter::Unknown);
                            State::Rejected {
                                response: Some(Box::new(respond::unknown(&id))),
                            }
                        }
                        Err(error) => {
                            shared.stats.add(TenantCounter::LookupFailed);
                            tracing::warn!(tenant = %id, %error, "tenant lookup failed");
                            State::Rejected {
                                response: Some(Box::new(respond::unavailable())),
                            }
                        }
                    };
                    self.as_mut().project().state.set(next);
                }
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::new)));
                }
                StateProj::Anonymous { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::new)));
                }
                StateProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("tenant future polled after completion");
                    return Poll::Ready(Ok(*response));
                }
            }
        }
    }
}
