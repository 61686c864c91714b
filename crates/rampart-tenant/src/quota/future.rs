//! The quota service's response future.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use http::{Request, Response};
use pin_project_lite::pin_project;
use rampart_core::{Problem, ResponseBody};
use tower_service::Service;

use super::{
    QuotaBody,
    monthly::{MonthlyFuture, QuotaStoreError, Usage},
    slots::Slot,
};
use crate::{PROBLEM_TYPE, QuotaExceeded, Tenant, TenantCounter};

/// A monthly charge whose answer is awaited.
pub(super) struct Monthly {
    pub(super) tenant: Tenant,
    pub(super) quota: Arc<str>,
    pub(super) limit: u64,
    pub(super) retry_after: Duration,
}

impl Monthly {
    /// `None` to go on, or the rejection.
    pub(super) fn decide<B>(
        &self,
        result: Result<Usage, QuotaStoreError>,
    ) -> Option<Response<ResponseBody<B>>> {
        let stats = self.tenant.stats();
        match result {
            Ok(usage) if usage.admitted => {
                stats.add(TenantCounter::MonthlyAdmitted);
                None
            }
            Ok(_) => {
                stats.add(TenantCounter::MonthlyLimited);
                Some(
                    QuotaExceeded::monthly(&self.quota, self.limit, self.retry_after)
                        .into_rejection(),
                )
            }
            Err(error) => {
                stats.add(TenantCounter::MonthlyUnavailable);
                tracing::warn!(tenant = %self.tenant.id(), quota = %self.quota, %error, "monthly quota store failed");
                Some(
                    Problem::new(http::StatusCode::SERVICE_UNAVAILABLE)
                        .with_type(PROBLEM_TYPE)
                        .with_title("Quota unavailable")
                        .with_detail("the quota could not be checked; try again shortly")
                        .into_rejection(),
                )
            }
        }
    }
}

pin_project! {
    /// The response future of [`QuotaService`](super::QuotaService).
    pub struct QuotaFuture<S, ReqB, ResB>
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
        // Boxed: only a store that does I/O gets here.
        Waiting {
            waiting: Box<Waiting<S, ReqB>>,
        },
        Inner {
            #[pin]
            future: S::Future,
            slot: Option<Slot>,
        },
        Rejected {
            response: Option<Response<ResponseBody<QuotaBody<ResB>>>>,
        },
    }
}

struct Waiting<S, ReqB> {
    charge: MonthlyFuture,
    monthly: Monthly,
    service: Option<S>,
    request: Option<Request<ReqB>>,
    slot: Option<Slot>,
}

impl<S, ReqB, ResB> QuotaFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>>,
{
    pub(super) fn inner(future: S::Future, slot: Option<Slot>) -> Self {
        Self {
            state: State::Inner { future, slot },
        }
    }

    pub(super) fn rejected(response: Response<ResponseBody<QuotaBody<ResB>>>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(super) fn waiting(
        charge: MonthlyFuture,
        monthly: Monthly,
        service: S,
        request: Request<ReqB>,
        slot: Option<Slot>,
    ) -> Self {
        Self {
            state: State::Waiting {
                waiting: Box::new(Waiting {
                    charge,
                    monthly,
                    service: Some(service),
                    request: Some(request),
                    slot,
                }),
            },
        }
    }
}

impl<S, ReqB, ResB> fmt::Debug for QuotaFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Waiting { .. } => "QuotaFuture::Waiting",
            State::Inner { .. } => "QuotaFuture::Inner",
            State::Rejected { .. } => "QuotaFuture::Rejected",
        })
    }
}

impl<S, ReqB, ResB> Future for QuotaFuture<S, ReqB, ResB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Output = Result<Response<ResponseBody<QuotaBody<ResB>>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Waiting { waiting } => {
                    let result = ready!(Pin::new(&mut waiting.charge).poll(cx));
                    let next = if let Some(response) = waiting.monthly.decide(result) {
                        State::Rejected {
                            response: Some(response),
                        }
                    } else {
                        let (Some(mut service), Some(request)) =
                            (waiting.service.take(), waiting.request.take())
                        else {
                            panic!("quota future polled after completion");
                        };
                        State::Inner {
                            future: service.call(request),
                            slot: waiting.slot.take(),
                        }
                    };
                    self.as_mut().project().state.set(next);
                }
                StateProj::Inner { future, slot } => {
                    // An error drops the slot with this future.
                    let response = ready!(future.poll(cx))?;
                    let slot = slot.take();
                    return Poll::Ready(Ok(
                        response.map(|body| ResponseBody::new(QuotaBody::new(body, slot)))
                    ));
                }
                StateProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("quota future polled after completion");
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}
