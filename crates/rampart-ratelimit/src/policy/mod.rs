//! A named rate limit: quota, key, scope, cost, mode, exemptions and what to
//! do when the store is away.

mod scope;

use std::{any::Any, fmt, str::FromStr, sync::Arc};

use http::{Method, request::Parts};
use ipnet::IpNet;

pub(crate) use self::scope::{Exemptions, RequestView, Scope};
use crate::{ClientIpKey, KeyExtractor, Quota, QuotaError};

/// Whether a policy rejects or only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Over-quota requests get 429.
    #[default]
    Enforce,
    /// Over-quota requests pass; they are counted (`shadow_limited`) and
    /// logged, so a new limit can be tried on live traffic first.
    Shadow,
}

/// What a policy does when its store (Redis) fails or times out. Used by
/// [`FallbackStore`](crate::FallbackStore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Decide in this process's memory, with the quota divided by the
    /// expected number of replicas (1: the full quota in every replica).
    Local {
        /// How many replicas share the quota while Redis is away.
        replicas: u32,
    },
    /// Admit every request while the store is away (fail open).
    Allow,
    /// Answer 503 while the store is away (fail closed).
    Reject,
}

impl Default for Fallback {
    fn default() -> Self {
        Self::Local { replicas: 1 }
    }
}

/// Why a policy could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Names are 1 to 64 characters of `A-Z a-z 0-9 _ . -` (they appear in
    /// headers and Redis keys).
    #[error("policy name `{0}` must be 1 to 64 characters of A-Z, a-z, 0-9, `_`, `.`, `-`")]
    InvalidName(String),
    /// The quota did not parse.
    #[error("policy `{name}`: {source}")]
    Quota {
        /// The policy.
        name: String,
        /// What was wrong with the quota.
        source: QuotaError,
    },
    /// A `name=quota` string had no `=`.
    #[error("policy `{0}` is not of the form NAME=QUOTA, such as `api=100/minute`")]
    MissingEquals(String),
    /// An exempt network did not parse.
    #[error("policy `{name}`: `{network}` is not a network such as 10.0.0.0/8")]
    InvalidNetwork {
        /// The policy.
        name: String,
        /// The bad network.
        network: String,
    },
}

/// Where a policy's key comes from. The client IP (the default) is read
/// straight from the request, so the layer need not split the request into
/// parts for it; any other extractor sees `Parts`.
#[derive(Clone, Debug)]
pub(crate) enum KeySource {
    ClientIp(ClientIpKey),
    Custom(Arc<dyn KeyExtractor>),
}

/// One rate limit. Several policies can apply to one request; it passes only
/// if every enforcing policy admits it, and none is charged otherwise.
///
/// By default a policy keys on the client IP (from rampart-core's
/// `ClientIp`), applies to every request, costs 1, enforces, and falls back
/// to a local limiter when Redis is away.
///
/// # Example
///
/// ```
/// use http::Method;
/// use rampart_ratelimit::{ClientIpAnd, FnKey, Key, Policy};
///
/// // The plan's three policies, from the strings an operator sets.
/// let global = Policy::parse("global", "1000/hour").unwrap()
///     .except_paths(["/health", "/ready", "/metrics"]);
/// let login = Policy::parse("login", "5/15minutes").unwrap()
///     .methods([Method::POST])
///     .path_prefix("/auth/login")
///     .key(ClientIpAnd::new(FnKey::new(|parts| {
///         parts.headers.get("x-login")?.to_str().ok().map(Key::text)
///     })));
/// assert_eq!(global.name(), "global");
/// assert_eq!(login.quota().count(), 5);
///
/// let api: Policy = "api=100/minute".parse().unwrap();
/// assert_eq!(api.name(), "api");
/// assert!(Policy::parse("api", "100/fortnight").is_err());
/// ```
#[derive(Clone)]
#[must_use]
pub struct Policy {
    pub(crate) name: Arc<str>,
    pub(crate) quota: Quota,
    pub(crate) key: KeySource,
    pub(crate) scope: Scope,
    pub(crate) cost: u32,
    pub(crate) mode: Mode,
    pub(crate) exempt: Exemptions,
    pub(crate) fallback: Fallback,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Policy {
    /// A policy named `name` with `quota`, keyed on the client IP.
    pub fn new(name: &str, quota: Quota) -> Result<Self, PolicyError> {
        if !valid_name(name) {
            return Err(PolicyError::InvalidName(name.to_owned()));
        }
        Ok(Self {
            name: Arc::from(name),
            quota,
            key: KeySource::ClientIp(ClientIpKey::new()),
            scope: Scope::default(),
            cost: 1,
            mode: Mode::Enforce,
            exempt: Exemptions::default(),
            fallback: Fallback::default(),
        })
    }

    /// A policy named `name` whose quota is parsed from `quota` (such as the
    /// value of `RATE_LIMIT_API`).
    pub fn parse(name: &str, quota: &str) -> Result<Self, PolicyError> {
        let quota = quota.parse().map_err(|source| PolicyError::Quota {
            name: name.to_owned(),
            source,
        })?;
        Self::new(name, quota)
    }

    /// Counts requests against what `key` extracts.
    pub fn key<K: KeyExtractor>(mut self, key: K) -> Self {
        self.key = match (&key as &dyn Any).downcast_ref::<ClientIpKey>() {
            Some(ip) => KeySource::ClientIp(*ip),
            None => KeySource::Custom(Arc::new(key)),
        };
        self
    }

    /// Applies only to these methods (default: all).
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.scope.methods.extend(methods);
        self
    }

    /// Applies only under this path prefix, matched at a segment boundary
    /// (`/api` matches `/api` and `/api/x`, not `/apix`). Call again to add more.
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.scope.prefixes.push(prefix.into().into_boxed_str());
        self
    }

    /// Does not apply under these paths (prefixes at a segment boundary),
    /// such as `/health`.
    pub fn except_paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.scope
            .except
            .extend(paths.into_iter().map(|p| p.into().into_boxed_str()));
        self
    }

    /// Applies only to requests for which `f` returns `true` (route templates,
    /// tenants on a plan...).
    pub fn applies_if<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.scope.predicate = Some(Arc::new(f));
        self
    }

    /// Each request spends `cost` units of quota (default 1). Checked against
    /// the burst when the layer is built.
    pub fn cost(mut self, cost: u32) -> Self {
        self.cost = cost;
        self
    }

    /// Enforce (default) or only report.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Shorthand for `mode(Mode::Shadow)`.
    pub fn shadow(self) -> Self {
        self.mode(Mode::Shadow)
    }

    /// Never limits clients in these networks.
    pub fn exempt_networks(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.exempt.networks.extend(networks);
        self
    }

    /// Never limits clients in these networks, given as text (`10.0.0.0/8`,
    /// `2001:db8::/32`, or a bare address).
    pub fn exempt_networks_str<'a>(
        self,
        networks: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, PolicyError> {
        let mut parsed = Vec::new();
        for text in networks {
            let text = text.trim();
            let net = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| PolicyError::InvalidNetwork {
                    name: self.name.to_string(),
                    network: text.to_owned(),
                })?;
            parsed.push(net);
        }
        Ok(self.exempt_networks(parsed))
    }

    /// Never limits requests for which `f` returns `true`.
    pub fn exempt_if<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.exempt.predicate = Some(Arc::new(f));
        self
    }

    /// What to do while the store is away (default: a local limiter).
    pub fn on_store_failure(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// The name, as it appears in headers, problem bodies, counters and keys.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The mode.
    pub fn current_mode(&self) -> Mode {
        self.mode
    }

    /// The fallback.
    pub fn fallback(&self) -> Fallback {
        self.fallback
    }

    /// `true` when deciding needs the request's `Parts` (a custom key or a
    /// predicate); otherwise the layer reads the request as it is.
    pub(crate) fn needs_parts(&self) -> bool {
        matches!(self.key, KeySource::Custom(_))
            || self.scope.predicate.is_some()
            || self.exempt.predicate.is_some()
    }

    /// Units each request spends.
    pub fn request_cost(&self) -> u32 {
        self.cost
    }
}

impl FromStr for Policy {
    type Err = PolicyError;

    /// `NAME=QUOTA`, such as `api=100/minute` or `login=5/15minutes;burst=2`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, quota) = text
            .split_once('=')
            .ok_or_else(|| PolicyError::MissingEquals(text.to_owned()))?;
        Self::parse(name.trim(), quota)
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("quota", &self.quota.to_string())
            .field("key", &self.key)
            .field("scope", &self.scope)
            .field("cost", &self.cost)
            .field("mode", &self.mode)
            .field("exempt", &self.exempt)
            .field("fallback", &self.fallback)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(Policy::parse("api.v2_x-1", "1/s").is_ok());
        for bad in ["", "a b", "a\"b", "ä", "a\\b", &"x".repeat(65), "a{b}"] {
            assert_eq!(
                Policy::parse(bad, "1/s").unwrap_err(),
                PolicyError::InvalidName(bad.to_owned())
            );
        }
    }

    #[test]
    fn quota_errors_name_the_policy() {
        let err = Policy::parse("api", "0/minute").unwrap_err();
        assert_eq!(
            err,
            PolicyError::Quota {
                name: "api".into(),
                source: QuotaError::ZeroCount
            }
        );
        assert!(err.to_string().contains("api"));
    }

    #[test]
    fn name_equals_quota() {
        let policy: Policy = " login = 5/15minutes ".parse().unwrap();
        assert_eq!(policy.name(), "login");
        assert_eq!(policy.quota().to_string(), "5/15minutes");
        assert_eq!(
            "login".parse::<Policy>().unwrap_err(),
            PolicyError::MissingEquals("login".into())
        );
    }

    #[test]
    fn exempt_networks_parse() {
        let policy = Policy::parse("p", "1/s").unwrap();
        assert!(
            policy
                .clone()
                .exempt_networks_str(["10.0.0.0/8", "::1"])
                .is_ok()
        );
        assert_eq!(
            policy.exempt_networks_str(["10.0.0.0/33"]).unwrap_err(),
            PolicyError::InvalidNetwork {
                name: "p".into(),
                network: "10.0.0.0/33".into()
            }
        );
    }

    proptest! {
        #[test]
        fn policy_parser_never_panics(text in "\\PC{0,60}") {
            let _ = text.parse::<Policy>();
        }
    }
}
