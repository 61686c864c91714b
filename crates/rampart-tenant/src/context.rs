//! The current tenant of a task: set by the layer around the inner service,
//! read by code deep in the call stack, carried into spawned tasks.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use crate::Tenant;

tokio::task_local! {
    static CURRENT: Option<Tenant>;
}

/// The tenant of the request this task is serving, if a
/// [`TenantLayer`](crate::TenantLayer) resolved one (or the code runs
/// inside [`Tenant::scope`] or [`spawn_with_tenant`]).
///
/// For code that has no request at hand: a repository, a job, a log helper.
///
/// # Example
///
/// ```
/// use rampart_tenant::{Limits, Tenant, current_tenant};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(current_tenant().is_none());
/// let tenant = Tenant::new("acme".parse().unwrap(), Limits::new());
/// let seen = tenant.scope(async { current_tenant().map(|t| t.id().to_string()) }).await;
/// assert_eq!(seen.as_deref(), Some("acme"));
/// # }
/// ```
pub fn current_tenant() -> Option<Tenant> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

pin_project! {
    /// A future that runs with a tenant as its [current
    /// tenant](current_tenant): made by [`Tenant::scope`] and
    /// [`with_tenant`].
    pub struct WithTenant<F> {
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<Option<Tenant>, F>,
    }
}

impl<F> std::fmt::Debug for WithTenant<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithTenant").finish_non_exhaustive()
    }
}

impl<F: Future> Future for WithTenant<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

/// `future`, running with `tenant` as its current tenant (`None`: with
/// none, even inside a request that has one).
///
/// ```
/// use rampart_tenant::{current_tenant, with_tenant};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert!(with_tenant(None, async { current_tenant() }).await.is_none());
/// # }
/// ```
pub fn with_tenant<F: Future>(tenant: Option<Tenant>, future: F) -> WithTenant<F> {
    WithTenant {
        inner: CURRENT.scope(tenant, future),
    }
}

/// [`tokio::spawn`] that carries the current tenant into the new task
/// (task-locals are not inherited: a plain `tokio::spawn` starts with no
/// tenant).
///
/// # Example
///
/// ```
/// use rampart_tenant::{Limits, Tenant, current_tenant, spawn_with_tenant};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tenant = Tenant::new("acme".parse().unwrap(), Limits::new());
/// let id = tenant
///     .scope(async {
///         spawn_with_tenant(async { current_tenant().map(|t| t.id().to_string()) })
///             .await
///             .unwrap()
///     })
///     .await;
/// assert_eq!(id.as_deref(), Some("acme"));
/// # }
/// ```
pub fn spawn_with_tenant<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(with_tenant(current_tenant(), future))
}

impl Tenant {
    /// `future`, running with this tenant as its current tenant.
    ///
    /// ```
    /// use rampart_tenant::{Limits, Tenant, current_tenant};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tenant = Tenant::new("acme".parse().unwrap(), Limits::new());
    /// assert!(tenant.scope(async { current_tenant().is_some() }).await);
    /// # }
    /// ```
    pub fn scope<F: Future>(self, future: F) -> WithTenant<F> {
        with_tenant(Some(self), future)
    }
}
