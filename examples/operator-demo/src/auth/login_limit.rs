//! The login limits, counted before any password work: per client address
//! and submitted email (`RATE_LIMIT_LOGIN`, default 5 per 15 minutes), and
//! per client address alone (`RATE_LIMIT_LOGIN_ADDRESS`, default 60 per
//! minute with a burst of 10).
//!
//! Why a pair: keyed on the address alone, a few typos from one office
//! behind a NAT would lock all its users out; keyed on the email alone,
//! anyone could lock a victim out by failing on purpose. Per pair, a guesser
//! gets 5 tries per account per address, and nobody else is affected.
//!
//! Why the address too: per pair alone, one address that sends a thousand
//! different emails gets a thousand admitted logins, each an argon2id
//! verification. The per-address policy lets an office's morning logins
//! through (60 a minute, 10 at once) and turns the rest of a spray into
//! cheap 429s; [`PasswordPool`](super::PasswordPool) bounds what all
//! addresses together can start.
//!
//! It is not a layer: the email is in the request body, which only the
//! login handler reads. The handler calls [`LoginLimiter::check`] before
//! looking at the password; the 429 it gets back is the one
//! rampart-ratelimit's layer sends (same headers, same problem body).

use std::{
    net::{IpAddr, Ipv6Addr},
    sync::Arc,
};

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use rampart::{
    core::Problem,
    ratelimit::{Demand, Key, MemoryStore, Outcome, Policy, Quota, Store, rejection},
};

/// The name of the login policy (per address and email).
pub const LOGIN_POLICY: &str = "login";

/// The name of the per-address login policy.
pub const LOGIN_ADDRESS_POLICY: &str = "login_address";

/// `RATE_LIMIT_LOGIN_ADDRESS`'s default: 60 logins a minute per client
/// address, at most 10 at once.
pub const DEFAULT_LOGIN_ADDRESS_QUOTA: &str = "60/minute;burst=10";

/// The longest email kept in a key, in bytes (RFC 5321's path limit): what a
/// client sends beyond it neither grows the store nor makes a new key.
const MAX_EMAIL_BYTES: usize = 254;

/// Counts login attempts per (client address, email) and per client
/// address in a rate-limit [`Store`], shared by every clone (and, with
/// Redis, every replica). An attempt is counted by both or by neither.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use operator_demo::auth::LoginLimiter;
///
/// let limiter = LoginLimiter::memory("5/15minutes".parse().unwrap());
/// let ip = Some("203.0.113.9".parse().unwrap());
/// for _ in 0..5 {
///     assert!(limiter.check(ip, "ada@example.com").await.is_ok());
/// }
/// let response = limiter.check(ip, " ADA@example.com ").await.unwrap_err();
/// assert_eq!(response.status(), 429);
/// assert_eq!(response.headers()["retry-after"], "180");
/// assert_eq!(response.headers()["ratelimit-policy"], "\"login\";q=5;w=900");
///
/// // Another account from the same address, the same account from another.
/// assert!(limiter.check(ip, "grace@example.com").await.is_ok());
/// assert!(limiter.check(Some("203.0.113.10".parse().unwrap()), "ada@example.com").await.is_ok());
///
/// // One address, many emails: the per-address burst (10 by default).
/// let sprayer = Some("198.51.100.7".parse().unwrap());
/// for n in 0..10 {
///     assert!(limiter.check(sprayer, &format!("user{n}@example.com")).await.is_ok());
/// }
/// let response = limiter.check(sprayer, "user10@example.com").await.unwrap_err();
/// assert_eq!(response.status(), 429);
/// assert_eq!(response.headers()["ratelimit-policy"], "\"login_address\";q=60;w=60");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LoginLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    policy: Policy,
    address: Policy,
}

/// `name`'s policy with `quota`: the names are constants that
/// `Policy::new` accepts (checked by a test).
fn policy(name: &'static str, quota: Quota) -> Policy {
    Policy::new(name, quota).unwrap_or_else(|_| unreachable!("{name:?} is a valid policy name"))
}

/// [`DEFAULT_LOGIN_ADDRESS_QUOTA`], parsed.
pub fn default_address_quota() -> Quota {
    DEFAULT_LOGIN_ADDRESS_QUOTA
        .parse()
        // A constant (checked by a test).
        .unwrap_or_else(|_| unreachable!("the default per-address login quota parses"))
}

impl LoginLimiter {
    /// Counts in `store` (the edge limiter's store, so that replicas share
    /// the count when it is Redis), allowing `quota` per address and email
    /// and [`DEFAULT_LOGIN_ADDRESS_QUOTA`] per address.
    pub fn new(store: Arc<dyn Store>, quota: Quota) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                policy: policy(LOGIN_POLICY, quota),
                address: policy(LOGIN_ADDRESS_POLICY, default_address_quota()),
            }),
        }
    }

    /// The same limiter allowing `quota` per client address
    /// (`RATE_LIMIT_LOGIN_ADDRESS`).
    #[must_use]
    pub fn per_address(self, quota: Quota) -> Self {
        let Inner { store, policy, .. } = &*self.inner;
        Self {
            inner: Arc::new(Inner {
                store: Arc::clone(store),
                policy: policy.clone(),
                address: self::policy(LOGIN_ADDRESS_POLICY, quota),
            }),
        }
    }

    /// Counts in this process's memory.
    pub fn memory(quota: Quota) -> Self {
        Self::new(Arc::new(MemoryStore::new()), quota)
    }

    /// The quota per address and email.
    pub fn quota(&self) -> Quota {
        self.inner.policy.quota()
    }

    /// The quota per address.
    pub fn address_quota(&self) -> Quota {
        self.inner.address.quota()
    }

    /// Counts one attempt of `email` from `client_ip` and answers whether it
    /// may go on: `Err` holds the response to send instead, a `429` with
    /// `Retry-After` (whole seconds, at least 1), `RateLimit-Policy`,
    /// `RateLimit` and a problem+json body naming the policy that refused
    /// (`login` or `login_address`; the one that asks the longer wait when
    /// both do), or a `503` when the store is unreachable and has no
    /// fallback.
    ///
    /// The email is compared trimmed and lowercased. A request without a
    /// resolved client address (no `ClientIp` in its extensions) is counted
    /// with the other address-less ones rather than not at all.
    pub async fn check(&self, client_ip: Option<IpAddr>, email: &str) -> Result<(), Response> {
        let ip = key_ip(client_ip);
        let (pair, address) = (&self.inner.policy, &self.inner.address);
        let demand = [
            Demand::new(
                LOGIN_POLICY,
                pair.quota(),
                Key::ip_and(ip, normalize(email)),
            ),
            Demand::new(LOGIN_ADDRESS_POLICY, address.quota(), Key::ip(ip)),
        ];
        match self.inner.store.decide(&demand).await {
            Ok(verdicts) if verdicts.len() == demand.len() => {
                let refused = [pair, address]
                    .into_iter()
                    .zip(&verdicts)
                    .filter(|(_, verdict)| verdict.outcome != Outcome::Admitted)
                    .max_by_key(|(_, verdict)| verdict.retry_after);
                match refused {
                    None => Ok(()),
                    Some((policy, verdict)) => Err(rejection::<Body>(policy, verdict)
                        .map_or_else(unavailable, |response| response.map(Body::new))),
                }
            }
            Ok(_) => Err(unavailable()),
            Err(error) => {
                tracing::error!(%error, "login rate limit store failed: answering 503");
                Err(unavailable())
            }
        }
    }
}

/// The address a key is made of: IPv6 by its `/64`, as the edge limiter
/// does (one subscriber holds a whole `/64`); none at all is `::`.
fn key_ip(ip: Option<IpAddr>) -> IpAddr {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        Some(v4) => v4,
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Trimmed, lowercased, at most [`MAX_EMAIL_BYTES`] (cut at a character).
fn normalize(email: &str) -> String {
    let mut email = email.trim().to_lowercase();
    if email.len() > MAX_EMAIL_BYTES {
        let mut end = MAX_EMAIL_BYTES;
        while !email.is_char_boundary(end) {
            end -= 1;
        }
        email.truncate(end);
    }
    email
}

fn unavailable() -> Response {
    let mut response: Response = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail("the rate limit store is unavailable")
        .with_extension("policy", LOGIN_POLICY)
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_and_the_default_quota_are_valid() {
        assert!(Policy::new(LOGIN_POLICY, "1/second".parse().unwrap()).is_ok());
        assert!(Policy::new(LOGIN_ADDRESS_POLICY, "1/second".parse().unwrap()).is_ok());
        let quota = default_address_quota();
        assert_eq!((quota.count(), quota.burst()), (60, 10));
    }

    #[test]
    fn emails_are_normalized_and_bounded() {
        assert_eq!(normalize("  Ada@Example.COM\t"), "ada@example.com");
        assert_eq!(normalize(&"a".repeat(1000)).len(), MAX_EMAIL_BYTES);
        // A multi-byte character straddling the limit is dropped whole.
        let long = format!("{}é", "a".repeat(MAX_EMAIL_BYTES - 1));
        assert_eq!(normalize(&long), "a".repeat(MAX_EMAIL_BYTES - 1));
    }

    #[test]
    fn addresses_are_keyed_like_the_edge_limiter() {
        let ip = |s: &str| Some(s.parse().unwrap());
        assert_eq!(key_ip(ip("2001:db8::1")), key_ip(ip("2001:db8::ffff")));
        assert_ne!(key_ip(ip("2001:db8::1")), key_ip(ip("2001:db8:0:1::1")));
        assert_eq!(key_ip(ip("::ffff:192.0.2.1")), key_ip(ip("192.0.2.1")));
        assert_eq!(key_ip(None), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }
}
