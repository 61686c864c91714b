//! The identity layer: the identify function its services share.

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use super::{FromExtension, Identify, Identity, SentryIdentityService};

/// Records user id and tenant (and route, request id) for the request's
/// Sentry events; see the [module docs](crate::identity). Cheap to clone:
/// the identify function is shared.
///
/// # Example
///
/// ```
/// use rampart_sentry::{Identity, SentryIdentityLayer};
///
/// #[derive(Clone)]
/// struct Principal { user_id: String, org_id: String }
///
/// let layer = SentryIdentityLayer::from_extension(|p: &Principal| {
///     Identity::user(&p.user_id).with_tenant(&p.org_id)
/// });
/// # let _ = layer;
/// ```
#[must_use]
pub struct SentryIdentityLayer<I> {
    pub(crate) identify: Arc<I>,
}

impl<I: Identify> SentryIdentityLayer<I> {
    /// Identifies requests with `identify`.
    pub fn new(identify: I) -> Self {
        Self {
            identify: Arc::new(identify),
        }
    }
}

impl<T, G> SentryIdentityLayer<FromExtension<T, G>>
where
    T: Send + Sync + 'static,
    G: Fn(&T) -> Identity,
{
    /// Identifies requests by their extension of type `T` (the principal the
    /// app's authentication inserted), mapped with `map`.
    pub fn from_extension(map: G) -> Self {
        Self::new(FromExtension::new(map))
    }
}

impl<I> Clone for SentryIdentityLayer<I> {
    fn clone(&self) -> Self {
        Self {
            identify: self.identify.clone(),
        }
    }
}

impl<I> fmt::Debug for SentryIdentityLayer<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentryIdentityLayer")
            .finish_non_exhaustive()
    }
}

impl<S, I> Layer<S> for SentryIdentityLayer<I> {
    type Service = SentryIdentityService<S, I>;

    fn layer(&self, inner: S) -> Self::Service {
        SentryIdentityService::new(inner, self)
    }
}
