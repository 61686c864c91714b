//! Which requests a policy looks at (scope) and which it lets through
//! untouched (exemptions).

use std::{fmt, sync::Arc};

use http::{Extensions, Method, Request, request::Parts};
use ipnet::IpNet;
use rampart_core::ClientIp;

/// What scope, exemptions and the client-IP key read from a request: the
/// same from `Parts` or from a whole `Request`, so that the layer splits a
/// request only for predicates and custom keys, which take `Parts`.
pub(crate) trait RequestView {
    fn method(&self) -> &Method;
    fn path(&self) -> &str;
    fn extensions(&self) -> &Extensions;
    /// The parts, when this view is one.
    fn parts(&self) -> Option<&Parts>;
}

impl RequestView for Parts {
    fn method(&self) -> &Method {
        &self.method
    }
    fn path(&self) -> &str {
        self.uri.path()
    }
    fn extensions(&self) -> &Extensions {
        &self.extensions
    }
    fn parts(&self) -> Option<&Parts> {
        Some(self)
    }
}

impl<B> RequestView for Request<B> {
    fn method(&self) -> &Method {
        self.method()
    }
    fn path(&self) -> &str {
        self.uri().path()
    }
    fn extensions(&self) -> &Extensions {
        self.extensions()
    }
    fn parts(&self) -> Option<&Parts> {
        None
    }
}

type Predicate = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// The requests a policy applies to: methods, path prefixes, excluded paths
/// and an optional predicate. Empty lists mean "all".
#[derive(Clone, Default)]
pub(crate) struct Scope {
    pub(crate) methods: Vec<Method>,
    pub(crate) prefixes: Vec<Box<str>>,
    pub(crate) except: Vec<Box<str>>,
    pub(crate) predicate: Option<Predicate>,
}

/// `prefix` matches `path` at a segment boundary: `/api` matches `/api` and
/// `/api/x` but not `/apix`; `/api/` matches only below `/api/`.
pub(crate) fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

impl Scope {
    /// A predicate needs `Parts`: a view without them (used only for
    /// policies that have no predicate) does not match one.
    #[inline]
    /// Whether this scope takes every request.
    pub(crate) fn is_everything(&self) -> bool {
        self.methods.is_empty()
            && self.prefixes.is_empty()
            && self.except.is_empty()
            && self.predicate.is_none()
    }

    pub(crate) fn contains(&self, view: &impl RequestView) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(view.method()) {
            return false;
        }
        if !self.prefixes.is_empty() || !self.except.is_empty() {
            let path = view.path();
            if !self.prefixes.is_empty() && !self.prefixes.iter().any(|p| prefix_matches(p, path)) {
                return false;
            }
            if self.except.iter().any(|p| prefix_matches(p, path)) {
                return false;
            }
        }
        match (&self.predicate, view.parts()) {
            (None, _) => true,
            (Some(f), Some(parts)) => f(parts),
            (Some(_), None) => false,
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("methods", &self.methods)
            .field("prefixes", &self.prefixes)
            .field("except", &self.except)
            .field("predicate", &self.predicate.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Requests a policy never limits: client addresses in allow-listed
/// networks, or requests a predicate picks.
#[derive(Clone, Default)]
pub(crate) struct Exemptions {
    pub(crate) networks: Vec<IpNet>,
    pub(crate) predicate: Option<Predicate>,
}

impl Exemptions {
    /// Whether nothing is exempted.
    pub(crate) fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.predicate.is_none()
    }

    #[inline]
    pub(crate) fn exempts(&self, view: &impl RequestView) -> bool {
        if !self.networks.is_empty() {
            if let Some(ip) = view.extensions().get::<ClientIp>() {
                let ip = ip.ip();
                if self.networks.iter().any(|n| n.contains(&ip)) {
                    return true;
                }
            }
        }
        match (&self.predicate, view.parts()) {
            (Some(f), Some(parts)) => f(parts),
            _ => false,
        }
    }
}

impl fmt::Debug for Exemptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exemptions")
            .field("networks", &self.networks)
            .field("predicate", &self.predicate.as_ref().map(|_| ".."))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_at_segment_boundaries() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/x"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/api/", "/api/x"));
        assert!(!prefix_matches("/api/", "/api"));
        assert!(prefix_matches("/", "/anything"));
        assert!(!prefix_matches("/health", "/"));
    }
}
