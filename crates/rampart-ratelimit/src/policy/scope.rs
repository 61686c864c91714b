//! Which requests a policy looks at (scope) and which it lets through
//! untouched (exemptions).

use std::{fmt, sync::Arc};

use http::{Method, request::Parts};
use ipnet::IpNet;
use rampart_core::ClientIp;

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
    pub(crate) fn contains(&self, parts: &Parts) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(&parts.method) {
            return false;
        }
        let path = parts.uri.path();
        if !self.prefixes.is_empty() && !self.prefixes.iter().any(|p| prefix_matches(p, path)) {
            return false;
        }
        if self.except.iter().any(|p| prefix_matches(p, path)) {
            return false;
        }
        self.predicate.as_ref().is_none_or(|f| f(parts))
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
    pub(crate) fn exempts(&self, parts: &Parts) -> bool {
        if !self.networks.is_empty() {
            if let Some(ip) = parts.extensions.get::<ClientIp>() {
                let ip = ip.ip();
                if self.networks.iter().any(|n| n.contains(&ip)) {
                    return true;
                }
            }
        }
        self.predicate.as_ref().is_some_and(|f| f(parts))
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
