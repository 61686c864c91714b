#![no_main]
//! Fuzz target for rampart-cache's key builder.
//!
//! Properties checked on every input:
//! * two lists of parts give the same key exactly when they are the same
//!   list (length-prefixing leaves no ambiguity);
//! * two requests give the same key exactly when they are the same request
//!   up to the order of their query's pairs of different names: method,
//!   path, the pairs sorted by name (stably), the varied headers' values,
//!   the tenant and the principal (each present or absent) all agree.
//!
//! ```text
//! cd fuzz && cargo +nightly fuzz run cache_key -- -max_total_time=30
//! ```

use arbitrary::Arbitrary;
use rampart_cache::CacheKey;

#[derive(Arbitrary, Debug)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    vary: Vec<(&'a str, Vec<&'a [u8]>)>,
    tenant: Option<&'a str>,
    principal: Option<&'a str>,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    a: Vec<&'a [u8]>,
    b: Vec<&'a [u8]>,
    first: Request<'a>,
    second: Request<'a>,
}

fn key_of(parts: &[&[u8]]) -> CacheKey {
    parts
        .iter()
        .fold(CacheKey::builder(), |b, p| b.part(p))
        .build()
}

fn request_key(r: &Request<'_>) -> CacheKey {
    CacheKey::for_request(r.method, r.path, r.query, &r.vary, r.tenant, r.principal)
}

fn name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(name, _)| name)
}

/// What the key is meant to identify.
fn normal(r: &Request<'_>) -> impl PartialEq + std::fmt::Debug {
    let query = r.query.map(|q| {
        let mut pairs: Vec<&str> = q.split('&').collect();
        pairs.sort_by(|a, b| name(a).cmp(name(b)));
        pairs.into_iter().map(str::to_owned).collect::<Vec<_>>()
    });
    (
        r.method.to_owned(),
        r.path.to_owned(),
        query,
        r.vary
            .iter()
            .map(|(n, v)| (n.to_string(), v.iter().map(|b| b.to_vec()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
        r.tenant.map(str::to_owned),
        r.principal.map(str::to_owned),
    )
}

libfuzzer_sys::fuzz_target!(|input: Input<'_>| {
    assert_eq!(key_of(&input.a) == key_of(&input.b), input.a == input.b);
    let same = normal(&input.first) == normal(&input.second);
    assert_eq!(
        request_key(&input.first) == request_key(&input.second),
        same,
        "{:?} / {:?}",
        input.first,
        input.second
    );
    // The same request always gives the same key.
    assert_eq!(request_key(&input.first), request_key(&input.first));
});
