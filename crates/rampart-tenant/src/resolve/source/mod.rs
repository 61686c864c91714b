//! Where a request's tenant comes from: a chain of sources, first match wins.

mod header;
mod path;
mod subdomain;

use http::{Extensions, Request};

pub(crate) use self::{header::HeaderSource, path::PathSource, subdomain::SubdomainSource};
use crate::{TenantCounter, TenantId, TenantIdError, TenantPrincipal};

/// Where a tenant was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TenantSource {
    /// The app's verified principal ([`TenantPrincipal`]).
    Principal,
    /// The request's host, under the configured base domain.
    Subdomain,
    /// A header written by a trusted proxy.
    Header,
    /// The first path segment after the configured prefix.
    Path,
}

impl TenantSource {
    /// A snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Principal => "principal",
            Self::Subdomain => "subdomain",
            Self::Header => "header",
            Self::Path => "path",
        }
    }

    pub(crate) fn counter(self) -> TenantCounter {
        match self {
            Self::Principal => TenantCounter::FromPrincipal,
            Self::Subdomain => TenantCounter::FromSubdomain,
            Self::Header => TenantCounter::FromHeader,
            Self::Path => TenantCounter::FromPath,
        }
    }
}

/// What one source says about a request.
#[derive(Debug)]
pub(crate) enum Found {
    /// Nothing here: ask the next source.
    Nothing,
    /// A tenant.
    Tenant(TenantId),
    /// Something that should have been a tenant id and is not (400).
    Invalid(TenantIdError),
}

type PrincipalFn = fn(&Extensions) -> Found;

fn principal<P: TenantPrincipal>(extensions: &Extensions) -> Found {
    match extensions.get::<P>().and_then(P::tenant_id) {
        None => Found::Nothing,
        Some(id) => match TenantId::new(id) {
            Ok(id) => Found::Tenant(id),
            Err(err) => Found::Invalid(err),
        },
    }
}

/// One link of the chain.
#[derive(Clone)]
pub(crate) enum Source {
    Principal(PrincipalFn, &'static str),
    Subdomain(SubdomainSource),
    Header(HeaderSource),
    Path(PathSource),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Principal(_, name) => f.debug_tuple("Principal").field(name).finish(),
            Self::Subdomain(s) => s.fmt(f),
            Self::Header(s) => s.fmt(f),
            Self::Path(s) => s.fmt(f),
        }
    }
}

impl Source {
    pub(crate) fn principal<P: TenantPrincipal>() -> Self {
        Self::Principal(principal::<P>, std::any::type_name::<P>())
    }

    pub(crate) fn kind(&self) -> TenantSource {
        match self {
            Self::Principal(..) => TenantSource::Principal,
            Self::Subdomain(_) => TenantSource::Subdomain,
            Self::Header(_) => TenantSource::Header,
            Self::Path(_) => TenantSource::Path,
        }
    }

    #[inline]
    pub(crate) fn find<B>(&self, request: &Request<B>, untrusted: &mut bool) -> Found {
        match self {
            Self::Principal(f, _) => f(request.extensions()),
            Self::Subdomain(s) => s.find(request),
            Self::Header(s) => s.find(request, untrusted),
            Self::Path(s) => s.find(request.uri().path()),
        }
    }
}

/// The first source that finds something.
#[inline]
pub(crate) fn resolve<B>(
    sources: &[Source],
    request: &Request<B>,
    untrusted: &mut bool,
) -> (Found, Option<TenantSource>) {
    for source in sources {
        match source.find(request, untrusted) {
            Found::Nothing => {}
            found => return (found, Some(source.kind())),
        }
    }
    (Found::Nothing, None)
}
