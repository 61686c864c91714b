//! What a person configures: the sources, the lookup and its cache;
//! [`TenantLayerBuilder::build`] checks it all at once.

use std::{fmt, sync::Arc, time::Duration};

use http::HeaderName;
use rampart_core::TrustedProxies;

use super::{
    Shared, TenantConfigError, TenantConfigIssue, TenantLayer,
    source::{HeaderSource, PathSource, Source, SubdomainSource},
};
use crate::{Limits, TenantLookup, TenantPrincipal, TenantStats, lookup::CachedLookup};

/// Builds a [`TenantLayer`]. Sources are tried in the order they are
/// added; the first that finds a tenant wins.
#[derive(Debug)]
#[must_use]
pub struct TenantLayerBuilder {
    sources: Vec<Source>,
    reserved: Vec<Box<str>>,
    required: bool,
    lookup: Option<Arc<dyn TenantLookup>>,
    cache_capacity: u64,
    cache_ttl: Duration,
    default_limits: Limits,
    issues: Vec<TenantConfigIssue>,
}

impl fmt::Debug for dyn TenantLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TenantLookup")
    }
}

impl TenantLayerBuilder {
    pub(crate) fn new() -> Self {
        Self {
            sources: Vec::new(),
            reserved: vec!["www".into()],
            required: true,
            lookup: None,
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(60),
            default_limits: Limits::new(),
            issues: Vec::new(),
        }
    }

    fn fail(&mut self, issue: TenantConfigIssue) {
        self.issues.push(issue);
    }

    /// The tenant of the app's verified principal: the `P` that the
    /// authentication layer put in the request's extensions (see
    /// [`TenantPrincipal`]). Put this source first.
    pub fn from_principal<P: TenantPrincipal>(mut self) -> Self {
        self.sources.push(Source::principal::<P>());
        self
    }

    /// The label in front of `base_domain`: `acme.app.example.com` is
    /// `acme` under `app.example.com`. Only one label deep; the base domain
    /// itself, other domains and reserved labels (default `www`) give no
    /// tenant. Host names are compared without case and the id lowercased.
    pub fn from_subdomain(mut self, base_domain: &str) -> Self {
        match SubdomainSource::new(base_domain, Vec::new()) {
            Some(source) => self.sources.push(Source::Subdomain(source)),
            None => self.fail(TenantConfigIssue::InvalidBaseDomain(base_domain.to_owned())),
        }
        self
    }

    /// Labels that are not tenants under the subdomain source (default:
    /// `www`).
    pub fn reserved_subdomains<I, T>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.reserved = labels.into_iter().map(|l| l.as_ref().into()).collect();
        self
    }

    /// The header `name` (`X-Tenant-Id`), believed only when the
    /// connection's peer is one of `trusted` (the proxy or gateway that
    /// sets it). From any other peer the header is ignored, whatever it
    /// says. The peer address is read as `rampart_core::peer_addr` reads it.
    pub fn from_header(mut self, name: &str, trusted: impl Into<TrustedProxies>) -> Self {
        let trusted = trusted.into();
        match HeaderName::try_from(name) {
            Err(_) => self.fail(TenantConfigIssue::InvalidHeaderName(name.to_owned())),
            Ok(_) if trusted.is_empty() => {
                self.fail(TenantConfigIssue::NoTrustedProxies(name.to_owned()))
            }
            Ok(header) => self
                .sources
                .push(Source::Header(HeaderSource::new(header, trusted))),
        }
        self
    }

    /// The first path segment after `prefix`: `/t/acme/calls` is `acme`
    /// under `/t/`. The path is left as it is (routes include the prefix).
    /// A path under the prefix whose segment is not a valid id is answered
    /// 400.
    pub fn from_path_prefix(mut self, prefix: &str) -> Self {
        match PathSource::new(prefix) {
            Some(source) => self.sources.push(Source::Path(source)),
            None => self.fail(TenantConfigIssue::InvalidPathPrefix(prefix.to_owned())),
        }
        self
    }

    /// Lets a request with no tenant through, without one (default: 401).
    /// Routes that need a tenant then say so: the `Tenant` extractor and
    /// [`QuotaLayer`](crate::QuotaLayer) answer 401 when there is none.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// The app's lookup: which tenants exist and their quotas. Without
    /// one, every well-formed id is a tenant with the
    /// [default limits](Self::default_limits).
    pub fn lookup(mut self, lookup: impl TenantLookup) -> Self {
        self.lookup = Some(Arc::new(lookup));
        self
    }

    /// How many lookup answers are kept (default 10,000; least recently
    /// used go first) and for how long (default 60 s: a tenant's new quotas
    /// or its removal are seen within that).
    pub fn cache(mut self, capacity: u64, ttl: Duration) -> Self {
        self.cache_capacity = capacity;
        self.cache_ttl = ttl;
        self
    }

    /// The quotas of every tenant when there is no lookup (default: none).
    pub fn default_limits(mut self, limits: Limits) -> Self {
        self.default_limits = limits;
        self
    }

    /// Checks the configuration and builds the layer.
    pub fn build(mut self) -> Result<TenantLayer, TenantConfigError> {
        // A source refused above was still a source: no `NoSources` beside it.
        if self.sources.is_empty() && self.issues.is_empty() {
            self.issues.push(TenantConfigIssue::NoSources);
        }
        if self.cache_capacity == 0 || self.cache_ttl.is_zero() {
            self.issues.push(TenantConfigIssue::EmptyCache);
        }
        if !self.issues.is_empty() {
            return Err(TenantConfigError::new(self.issues));
        }
        for source in &mut self.sources {
            if let Source::Subdomain(subdomain) = source {
                subdomain.set_reserved(self.reserved.clone());
            }
        }
        let lookup = self
            .lookup
            .map(|lookup| CachedLookup::new(lookup, self.cache_capacity, self.cache_ttl));
        Ok(TenantLayer {
            shared: Arc::new(Shared {
                sources: self.sources.into(),
                required: self.required,
                lookup,
                default_limits: Arc::new(self.default_limits),
                stats: Arc::new(TenantStats::new()),
            }),
        })
    }
}
