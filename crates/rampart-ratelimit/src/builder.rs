//! What a person configures: the policies, the store and which fields are
//! sent; [`RateLimitLayerBuilder::build`] checks it all at once.

use std::{collections::HashSet, sync::Arc};

use crate::{
    MemoryStore, Policy, RateLimitConfigError, RateLimitConfigIssue, RateLimitLayer,
    RateLimitStats, Store,
    layer::{Compiled, Shared},
    policy::KeySource,
};

/// When the `RateLimit-Policy` and `RateLimit` fields are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitHeaders {
    /// On every response to a request that a policy applied to (default).
    #[default]
    Always,
    /// Only on 429 responses.
    OnRejection,
    /// Never (`Retry-After` is still sent on 429).
    Never,
}

/// Builds a [`RateLimitLayer`].
#[derive(Debug)]
#[must_use]
pub struct RateLimitLayerBuilder {
    store: Arc<dyn Store>,
    memory: Option<MemoryStore>,
    policies: Vec<Policy>,
    headers: RateLimitHeaders,
    legacy: bool,
}

impl RateLimitLayerBuilder {
    pub(crate) fn new(store: impl Store) -> Self {
        Self {
            memory: store.as_memory().cloned(),
            store: Arc::new(store),
            policies: Vec::new(),
            headers: RateLimitHeaders::default(),
            legacy: false,
        }
    }

    /// Adds a policy. A request passes only if every enforcing policy that
    /// applies to it admits it.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policies.push(policy);
        self
    }

    /// Adds several policies.
    pub fn policies(mut self, policies: impl IntoIterator<Item = Policy>) -> Self {
        self.policies.extend(policies);
        self
    }

    /// When to send the `RateLimit-Policy` and `RateLimit` fields
    /// ([draft-ietf-httpapi-ratelimit-headers-10]). Default: always.
    ///
    /// [draft-ietf-httpapi-ratelimit-headers-10]: https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/10/
    pub fn headers(mut self, mode: RateLimitHeaders) -> Self {
        self.headers = mode;
        self
    }

    /// Also sends `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
    /// `X-RateLimit-Reset` (seconds from now) for the tightest policy, for
    /// clients that read only those (default: off).
    pub fn legacy_headers(mut self, on: bool) -> Self {
        self.legacy = on;
        self
    }

    /// Checks the policies and builds the layer.
    pub fn build(self) -> Result<RateLimitLayer, RateLimitConfigError> {
        let mut issues = Vec::new();
        if self.policies.is_empty() {
            issues.push(RateLimitConfigIssue::NoPolicies);
        }
        let mut names = HashSet::new();
        for policy in &self.policies {
            if !names.insert(policy.name()) {
                issues.push(RateLimitConfigIssue::DuplicateName(
                    policy.name().to_owned(),
                ));
            }
            if policy.cost == 0 {
                issues.push(RateLimitConfigIssue::ZeroCost(policy.name().to_owned()));
            } else if u64::from(policy.cost) > policy.quota.burst() {
                issues.push(RateLimitConfigIssue::CostAboveBurst {
                    policy: policy.name().to_owned(),
                    cost: policy.cost,
                    burst: policy.quota.burst(),
                });
            }
        }
        if !issues.is_empty() {
            return Err(RateLimitConfigError::new(issues));
        }
        let stats = Arc::new(RateLimitStats::new(
            self.policies.iter().map(|p| Arc::clone(&p.name)),
        ));
        let needs_parts = self.policies.iter().any(Policy::needs_parts);
        let policies = self
            .policies
            .into_iter()
            .map(|policy| {
                let item = format!(
                    "\"{}\";q={};w={}",
                    policy.name,
                    policy.quota.count(),
                    policy.quota.period().as_secs()
                );
                let ip_policy = match (&self.memory, &policy.key) {
                    (Some(memory), KeySource::ClientIp(_)) => {
                        Some(memory.ip_policy(&policy.name, policy.quota, policy.cost))
                    }
                    _ => None,
                };
                Compiled {
                    everywhere: policy.scope.is_everything() && policy.exempt.is_empty(),
                    field_prefix: format!("\"{}\";r=", policy.name).into_bytes().into(),
                    ip_policy,
                    item_value: http::HeaderValue::from_maybe_shared(bytes::Bytes::from(
                        item.clone(),
                    ))
                    .ok(),
                    item,
                    policy,
                }
            })
            .collect::<Box<[Compiled]>>();
        Ok(RateLimitLayer {
            shared: Arc::new(Shared {
                policies,
                needs_parts,
                store: self.store,
                memory: self.memory,
                headers: self.headers,
                legacy: self.legacy,
                stats,
            }),
        })
    }
}
