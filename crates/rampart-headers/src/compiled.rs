//! A policy rendered for the hot path: header maps to clone, names to drop.

use http::{HeaderMap, HeaderName, header};

use crate::{
    CspNonce, InsertHeaderMode, SecurityHeaders, SecurityHeadersConfigError,
    csp::ContentSecurityPolicy, security_headers::RouteTarget,
};

/// One policy, ready to apply.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// Every static header, for a plain-HTTP request.
    plain: Template,
    /// The same plus `Strict-Transport-Security`, for an HTTPS request.
    https: Template,
    /// Whether `plain` and `https` differ, so the request must be looked at.
    pub(crate) needs_scheme: bool,
    /// A policy with a nonce, rendered per request.
    nonce_csp: Option<(ContentSecurityPolicy, InsertHeaderMode)>,
}

#[derive(Debug)]
struct Template {
    headers: HeaderMap,
    /// Names whose handler-set values are dropped: overriding headers of the
    /// template and the headers to remove.
    drop: Box<[HeaderName]>,
}

impl Compiled {
    pub(crate) fn new(policy: &SecurityHeaders) -> Result<Self, SecurityHeadersConfigError> {
        // Room for the handler's own headers: a clone keeps the index table's
        // size, so merging a few more does not rehash the map.
        let mut plain = HeaderMap::with_capacity(policy.headers.len() + 12);
        let mut drop: Vec<HeaderName> = policy.remove.clone();
        let add = |map: &mut HeaderMap, drop: &mut Vec<HeaderName>, name: HeaderName, value| {
            if policy.mode(&name) == InsertHeaderMode::Overriding && !drop.contains(&name) {
                drop.push(name.clone());
            }
            map.insert(name, value);
        };
        for (name, value) in &policy.headers {
            add(&mut plain, &mut drop, name.clone(), value.clone());
        }
        let mut nonce_csp = None;
        if let Some(csp) = &policy.csp {
            let name = csp.header_name();
            if let Some(endpoints) = csp.reporting_endpoints() {
                let endpoints_name = HeaderName::from_static("reporting-endpoints");
                add(&mut plain, &mut drop, endpoints_name, endpoints.clone());
            }
            if csp.needs_nonce() {
                let mode = policy.mode(&name);
                if mode == InsertHeaderMode::Overriding {
                    drop.push(name);
                }
                nonce_csp = Some((csp.clone(), mode));
            } else {
                add(&mut plain, &mut drop, name, csp.header_value(None));
            }
        }
        let mut https = Template {
            headers: plain.clone(),
            drop: drop.clone().into(),
        };
        let mut needs_scheme = false;
        if let Some(hsts) = &policy.hsts {
            hsts.validate()?;
            let name = header::STRICT_TRANSPORT_SECURITY;
            let mut https_drop = drop.clone();
            add(
                &mut https.headers,
                &mut https_drop,
                name.clone(),
                hsts.value(),
            );
            https.drop = https_drop.into();
            if hsts.is_always() {
                add(&mut plain, &mut drop, name, hsts.value());
            } else {
                needs_scheme = true;
            }
        }
        Ok(Self {
            plain: Template {
                headers: plain,
                drop: drop.into(),
            },
            https,
            needs_scheme,
            nonce_csp,
        })
    }

    pub(crate) fn nonce_wanted(&self) -> bool {
        self.nonce_csp.is_some()
    }

    /// Puts the policy's headers into a response's headers.
    ///
    /// Instead of inserting each header one by one (a hash and a probe each,
    /// and a map that grows twice on the way), clone the rendered template
    /// and move the handler's few headers into it: the handler's value wins
    /// over an `IfNotPresent` header, an `Overriding` or removed one is
    /// dropped. The order of the handler's own values of one name is kept.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, https: bool, nonce: Option<&CspNonce>) {
        let template = if https { &self.https } else { &self.plain };
        let mut merged = template.headers.clone();
        if !headers.is_empty() {
            let mut dropped = false;
            let mut current: Option<HeaderName> = None;
            for (name, value) in headers.drain() {
                match name {
                    Some(name) => {
                        dropped = template.drop.contains(&name);
                        if !dropped {
                            merged.insert(&name, value);
                        }
                        current = Some(name);
                    }
                    None => {
                        if let (false, Some(name)) = (dropped, &current) {
                            merged.append(name, value);
                        }
                    }
                }
            }
        }
        if let (Some((csp, mode)), Some(nonce)) = (&self.nonce_csp, nonce) {
            let name = csp.header_name();
            if *mode == InsertHeaderMode::Overriding || !merged.contains_key(&name) {
                merged.insert(name, csp.with_nonce(nonce));
            }
        }
        *headers = merged;
    }
}

/// The base policy and the routes, chosen per request.
#[derive(Debug)]
pub(crate) struct Routes {
    /// Longest prefix first.
    routes: Box<[(Box<str>, Option<Compiled>)]>,
}

/// What a request's path selects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Selected {
    Base,
    Route(usize),
    Exempt,
}

impl Routes {
    pub(crate) fn empty() -> Self {
        Self {
            routes: Box::new([]),
        }
    }

    pub(crate) fn new(
        routes: &[(String, RouteTarget)],
    ) -> Result<Self, SecurityHeadersConfigError> {
        let mut compiled: Vec<(Box<str>, Option<Compiled>)> = Vec::with_capacity(routes.len());
        for (prefix, target) in routes {
            let valid = prefix.starts_with('/')
                && !prefix.bytes().any(|b| {
                    b == b'?' || b == b'#' || b.is_ascii_whitespace() || b.is_ascii_control()
                });
            if !valid {
                return Err(SecurityHeadersConfigError::InvalidRoutePrefix {
                    prefix: prefix.clone(),
                });
            }
            // `/docs/` and `/docs` cover the same paths.
            let normalized = match prefix.trim_end_matches('/') {
                "" => "/",
                p => p,
            };
            if compiled.iter().any(|(p, _)| &**p == normalized) {
                return Err(SecurityHeadersConfigError::DuplicateRoute {
                    prefix: prefix.clone(),
                });
            }
            let policy = match target {
                RouteTarget::Exempt => None,
                RouteTarget::Policy(policy) => {
                    if !policy.routes.is_empty() {
                        return Err(SecurityHeadersConfigError::NestedRoutes {
                            prefix: prefix.clone(),
                        });
                    }
                    Some(Compiled::new(policy)?)
                }
            };
            compiled.push((normalized.into(), policy));
        }
        compiled.sort_by_key(|route| std::cmp::Reverse(route.0.len()));
        Ok(Self {
            routes: compiled.into(),
        })
    }

    #[inline]
    pub(crate) fn select(&self, path: &str) -> Selected {
        for (i, (prefix, policy)) in self.routes.iter().enumerate() {
            let covers = path.starts_with(&**prefix)
                && (prefix.len() == 1
                    || path.len() == prefix.len()
                    || path.as_bytes()[prefix.len()] == b'/');
            if covers {
                return match policy {
                    Some(_) => Selected::Route(i),
                    None => Selected::Exempt,
                };
            }
        }
        Selected::Base
    }

    pub(crate) fn get(&self, index: usize) -> Option<&Compiled> {
        self.routes.get(index).and_then(|(_, p)| p.as_ref())
    }
}
