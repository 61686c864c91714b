//! The quota service: takes the slot, charges the month, calls inner.

use std::task::{Context, Poll};

use http::{Request, Response};
use rampart_core::ResponseBody;
use tower_service::Service;

use super::{
    QuotaBody, QuotaLayer,
    future::{Monthly, QuotaFuture},
    monthly::{Charge, Month},
};
use crate::{QuotaExceeded, Tenant, TenantCounter, resolve::missing_tenant};

/// The service made by [`QuotaLayer`].
///
/// # Example
///
/// ```
/// use rampart_tenant::Quotas;
/// use tower::{Layer, service_fn};
///
/// let service = Quotas::default().layer().concurrent().layer(service_fn(
///     |_req: http::Request<()>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
///     },
/// ));
/// let _inner = service.get_ref();
/// ```
#[derive(Debug, Clone)]
pub struct QuotaService<S> {
    inner: S,
    layer: QuotaLayer,
}

impl<S> QuotaService<S> {
    /// Wraps `inner` with `layer`'s quotas; the same as
    /// [`Layer::layer`](tower_layer::Layer::layer).
    pub fn new(inner: S, layer: &QuotaLayer) -> Self {
        Self {
            inner,
            layer: layer.clone(),
        }
    }

    /// Returns a new [`Layer`](tower_layer::Layer) that wraps services with a
    /// [`QuotaService`] counting in `quotas`; the same as [`Quotas::layer`](crate::Quotas::layer).
    pub fn layer(quotas: &crate::Quotas) -> QuotaLayer {
        quotas.layer()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for QuotaService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<ResponseBody<QuotaBody<ResB>>>;
    type Error = S::Error;
    type Future = QuotaFuture<S, ReqB, ResB>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let Some(tenant) = request.extensions().get::<Tenant>() else {
            return QuotaFuture::rejected(missing_tenant());
        };
        let quotas = &self.layer.quotas.inner;
        let slot = match tenant.limits().get_max_concurrent() {
            Some(max) if self.layer.concurrent => {
                if let Some(slot) = quotas.slots.try_acquire(tenant, max) {
                    tenant.stats().add(TenantCounter::ConcurrencyAdmitted);
                    Some(slot)
                } else {
                    tenant.stats().add(TenantCounter::ConcurrencyLimited);
                    return QuotaFuture::rejected(QuotaExceeded::concurrent(max).into_rejection());
                }
            }
            _ => None,
        };
        let monthly = self
            .layer
            .monthly
            .as_ref()
            .and_then(|name| Some((name, tenant.limits().get_monthly(name)?)));
        let Some((name, limit)) = monthly else {
            return QuotaFuture::inner(self.inner.call(request), slot);
        };
        let now = quotas.clock.system_time();
        let month = Month::containing(now);
        let mut charge = quotas.store.charge(&Charge {
            tenant: tenant.id(),
            quota: name,
            month,
            limit,
            cost: 1,
        });
        let pending = Monthly {
            tenant: tenant.clone(),
            quota: std::sync::Arc::clone(name),
            limit,
            retry_after: month.remaining(now),
        };
        if let Some(result) = charge.take_ready() {
            match pending.decide(result) {
                None => QuotaFuture::inner(self.inner.call(request), slot),
                // A refused request gives its slot back here (`slot` drops).
                Some(response) => QuotaFuture::rejected(response),
            }
        } else {
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            QuotaFuture::waiting(charge, pending, ready, request, slot)
        }
    }
}
