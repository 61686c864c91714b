//! Who made the request: [`Identity`], and the [`Identify`] functions that
//! find it in the request's extensions.

use std::{fmt, marker::PhantomData};

use http::Extensions;

/// Who made a request, as Sentry gets it: a user id and a tenant, nothing
/// else. There is deliberately no email or name: those are personal data
/// the scrubber would remove anyway.
///
/// # Example
///
/// ```
/// use rampart_sentry::Identity;
///
/// let identity = Identity::user("u1").with_tenant("org-7");
/// assert_eq!(identity.user_id(), Some("u1"));
/// assert_eq!(identity.tenant(), Some("org-7"));
/// assert_eq!(Identity::tenant_only("org-7").user_id(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    user_id: Option<String>,
    tenant: Option<String>,
}

impl Identity {
    /// A user by id.
    pub fn user(id: impl Into<String>) -> Self {
        Self {
            user_id: Some(id.into()),
            tenant: None,
        }
    }

    /// A tenant without a known user (an API key of an organization).
    pub fn tenant_only(tenant: impl Into<String>) -> Self {
        Self {
            user_id: None,
            tenant: Some(tenant.into()),
        }
    }

    /// The same, with the tenant (organization) the user acts for.
    #[must_use]
    pub fn with_tenant(self, tenant: impl Into<String>) -> Self {
        Self {
            tenant: Some(tenant.into()),
            ..self
        }
    }

    /// The user id.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The tenant.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    pub(crate) fn into_parts(self) -> (Option<String>, Option<String>) {
        (self.user_id, self.tenant)
    }
}

/// Finds who made a request in its extensions. Implemented for every
/// `Fn(&http::Extensions) -> Option<Identity>`, and by
/// [`FromExtension`] for one extension type.
///
/// # Example
///
/// ```
/// use http::Extensions;
/// use rampart_sentry::{Identify, Identity};
///
/// let identify = |ext: &Extensions| ext.get::<String>().map(Identity::user);
/// let mut ext = Extensions::new();
/// ext.insert(String::from("u1"));
/// assert_eq!(identify.identify(&ext), Some(Identity::user("u1")));
/// ```
pub trait Identify {
    /// Who made the request whose extensions these are, if known.
    fn identify(&self, extensions: &Extensions) -> Option<Identity>;
}

impl<F> Identify for F
where
    F: Fn(&Extensions) -> Option<Identity>,
{
    fn identify(&self, extensions: &Extensions) -> Option<Identity> {
        self(extensions)
    }
}

/// An [`Identify`] that maps the request's extension of type `T` (the app's
/// principal). Made by [`SentryIdentityLayer::from_extension`](crate::SentryIdentityLayer::from_extension).
///
/// # Example
///
/// ```
/// use http::Extensions;
/// use rampart_sentry::{FromExtension, Identify, Identity};
///
/// #[derive(Clone)]
/// struct UserId(u64);
/// let identify = FromExtension::new(|user: &UserId| Identity::user(user.0.to_string()));
/// let mut ext = Extensions::new();
/// assert_eq!(identify.identify(&ext), None);
/// ext.insert(UserId(7));
/// assert_eq!(identify.identify(&ext), Some(Identity::user("7")));
/// ```
pub struct FromExtension<T, G> {
    map: G,
    _type: PhantomData<fn(&T)>,
}

impl<T, G> FromExtension<T, G>
where
    T: Send + Sync + 'static,
    G: Fn(&T) -> Identity,
{
    /// Maps the extension of type `T` with `map`.
    pub fn new(map: G) -> Self {
        Self {
            map,
            _type: PhantomData,
        }
    }
}

impl<T, G: Clone> Clone for FromExtension<T, G> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            _type: PhantomData,
        }
    }
}

impl<T, G> fmt::Debug for FromExtension<T, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromExtension")
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl<T, G> Identify for FromExtension<T, G>
where
    T: Send + Sync + 'static,
    G: Fn(&T) -> Identity,
{
    fn identify(&self, extensions: &Extensions) -> Option<Identity> {
        extensions.get::<T>().map(&self.map)
    }
}
