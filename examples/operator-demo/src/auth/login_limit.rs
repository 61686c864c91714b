//! The login limit (`RATE_LIMIT_LOGIN`, default 5 per 15 minutes), per
//! client address and submitted email.
//!
//! Why both: keyed on the address alone, a few typos from one office behind
//! a NAT would lock all its users out; keyed on the email alone, anyone
//! could lock a victim out by failing on purpose. Per pair, a guesser gets 5
//! tries per account per address, and nobody else is affected.
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

/// The name of the login policy.
pub const LOGIN_POLICY: &str = "login";

/// The longest email kept in a key, in bytes (RFC 5321's path limit): what a
/// client sends beyond it neither grows the store nor makes a new key.
const MAX_EMAIL_BYTES: usize = 254;

/// Counts login attempts per (client address, email) in a rate-limit
/// [`Store`], shared by every clone (and, with Redis, every replica).
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
}

impl LoginLimiter {
    /// Counts in `store` (the edge limiter's store, so that replicas share
    /// the count when it is Redis), allowing `quota` per address and email.
    pub fn new(store: Arc<dyn Store>, quota: Quota) -> Self {
        let policy = Policy::new(LOGIN_POLICY, quota)
            // A constant that `Policy::new` accepts (checked by a test).
            .unwrap_or_else(|_| unreachable!("\"login\" is a valid policy name"));
        Self {
            inner: Arc::new(Inner { store, policy }),
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

    /// Counts one attempt of `email` from `client_ip` and answers whether it
    /// may go on: `Err` holds the response to send instead, a `429` with
    /// `Retry-After` (whole seconds, at least 1), `RateLimit-Policy`,
    /// `RateLimit` and a problem+json body naming the policy `login` (or a
    /// `503` when the store is unreachable and has no fallback).
    ///
    /// The email is compared trimmed and lowercased. A request without a
    /// resolved client address (no `ClientIp` in its extensions) is counted
    /// with the other address-less ones rather than not at all.
    pub async fn check(&self, client_ip: Option<IpAddr>, email: &str) -> Result<(), Response> {
        let key = Key::ip_and(key_ip(client_ip), normalize(email));
        let demand = [Demand::new(LOGIN_POLICY, self.quota(), key)];
        match self.inner.store.decide(&demand).await {
            Ok(verdicts) => match verdicts.first() {
                Some(verdict) if verdict.outcome == Outcome::Admitted => Ok(()),
                Some(verdict) => Err(rejection::<Body>(&self.inner.policy, verdict)
                    .map_or_else(unavailable, |response| response.map(Body::new))),
                None => Err(unavailable()),
            },
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
    fn policy_name_is_valid() {
        assert!(Policy::new(LOGIN_POLICY, "1/second".parse().unwrap()).is_ok());
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
