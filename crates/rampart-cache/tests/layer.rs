//! The response cache as a client sees it: statuses, headers, bodies, and
//! how often the inner service was called.

mod common;

use std::{sync::Arc, time::Duration};

use common::{app::*, *};
use rampart_cache::{CacheOutcome, CacheStore, MemoryCacheStore};

fn memory() -> MemoryCacheStore {
    MemoryCacheStore::new(16 << 20)
}

#[tokio::test]
async fn a_miss_is_stored_then_served_with_age_etag_and_cache_status() {
    let state = Inner::default();
    let layer = layer(memory());
    let svc = service(&layer, &state);
    let first = send(&svc, get("/r/a?x=1", &[], None, None)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(status(&first), "rampart; fwd=uri-miss; stored");
    assert_eq!(header(&first, "age").as_deref(), Some("0"));
    let etag = header(&first, "etag").unwrap();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    let second = send(&svc, get("/r/a?x=1", &[], None, None)).await;
    assert!(
        status(&second).starts_with("rampart; hit; ttl="),
        "{}",
        status(&second)
    );
    assert_eq!(second.body(), first.body());
    assert_eq!(header(&second, "etag").unwrap(), etag);
    assert_eq!(
        header(&second, "content-type").as_deref(),
        Some("text/plain")
    );
    assert!(header(&second, "age").is_some());
    assert_eq!(state.calls(), 1);
    let stats = layer.stats();
    assert_eq!(stats.get("public", CacheOutcome::Miss), Some(1));
    assert_eq!(stats.get("public", CacheOutcome::Hit), Some(1));
}

#[tokio::test]
async fn if_none_match_gets_a_304_from_the_cache() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    let first = send(&svc, get("/r/etag", &[], None, None)).await;
    let etag = header(&first, "etag").unwrap();
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_owned(),
    ] {
        let response = send(&svc, get("/r/etag", &[("if-none-match", &inm)], None, None)).await;
        assert_eq!(response.status(), 304, "{inm}");
        assert!(response.body().is_empty());
        assert_eq!(header(&response, "etag").unwrap(), etag);
    }
    let other = send(
        &svc,
        get("/r/etag", &[("if-none-match", "\"nope\"")], None, None),
    )
    .await;
    assert_eq!(other.status(), 200);
    // The response's own ETag is kept.
    let own = send(
        &svc,
        get("/r/own-etag", &[("x-etag", "\"v1\"")], None, None),
    )
    .await;
    assert_eq!(header(&own, "etag").as_deref(), Some("\"v1\""));
    let again = send(
        &svc,
        get("/r/own-etag", &[("if-none-match", "\"v1\"")], None, None),
    )
    .await;
    assert_eq!(again.status(), 304);
    assert_eq!(state.calls(), 2);
}

#[tokio::test]
async fn head_is_cached_apart_without_a_body() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    let head = || {
        let mut request = get("/r/head", &[], None, None);
        *request.method_mut() = http::Method::HEAD;
        request
    };
    send(&svc, head()).await;
    let cached = send(&svc, head()).await;
    assert!(status(&cached).contains("hit"));
    assert!(cached.body().is_empty());
    let body = send(&svc, get("/r/head", &[], None, None)).await;
    assert!(
        status(&body).contains("fwd=uri-miss"),
        "GET is not HEAD's entry"
    );
    assert!(!body.body().is_empty());
    assert_eq!(state.calls(), 2);
}

/// Every bypass rule: passed on, not looked up, not stored.
#[tokio::test]
async fn bypass_rules() {
    let state = Inner::default();
    let layer = layer(memory());
    let svc = service(&layer, &state);
    let cases: [(&str, http::Request<String>, &str); 6] = [
        (
            "authorization on a public route",
            get("/r/b1", &[("authorization", "Bearer a")], None, None),
            "credentials",
        ),
        (
            "cookie on a public route",
            get("/r/b2", &[("cookie", "sid=1")], None, None),
            "credentials",
        ),
        (
            "request no-store",
            get("/r/b3", &[("cache-control", "no-store")], None, None),
            "no-store",
        ),
        (
            "no tenant on a tenant route",
            get("/t/b4", &[], None, Some("u1")),
            "no-tenant",
        ),
        (
            "no principal on a principal route",
            get("/p/b5", &[], Some("acme"), None),
            "no-principal",
        ),
        (
            "a tenant that cannot be a tag",
            get("/t/b6", &[], Some("a\tb"), None),
            "tag",
        ),
    ];
    for (what, request, detail) in cases {
        let uri = request.uri().clone();
        let extensions = request.extensions().clone();
        let headers = request.headers().clone();
        for _ in 0..2 {
            let mut again = http::Request::get(uri.clone()).body(String::new()).unwrap();
            *again.headers_mut() = headers.clone();
            *again.extensions_mut() = extensions.clone();
            let response = send(&svc, again).await;
            assert_eq!(response.status(), 200, "{what}");
            assert_eq!(
                status(&response),
                format!("rampart; fwd=bypass; detail={detail}"),
                "{what}"
            );
        }
    }
    assert_eq!(
        state.calls(),
        12,
        "each bypassed request reached the service"
    );
    let stats = layer.stats();
    assert_eq!(stats.get("public", CacheOutcome::Bypass), Some(6));
    assert_eq!(stats.get("tenant", CacheOutcome::Bypass), Some(4));

    // Not GET or HEAD, or not a listed route: passed on untouched.
    for request in [
        http::Request::post("/r/b7").body(String::new()).unwrap(),
        get("/unlisted", &[], None, None),
        get("/unlisted", &[], None, None),
    ] {
        let response = send(&svc, request).await;
        assert_eq!(status(&response), "");
        assert!(header(&response, "age").is_none());
    }
    assert_eq!(state.calls(), 15);
}

/// Every rule that keeps a response out of the cache.
#[tokio::test]
async fn responses_that_are_not_stored() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: [Case<'_>; 12] = [
        ("404", "/r/s1", vec![("x-status", "404")]),
        ("500", "/r/s2", vec![("x-status", "500")]),
        ("206", "/r/s3", vec![("x-status", "206")]),
        ("set-cookie", "/r/s4", vec![("x-set-cookie", "sid=1")]),
        ("no-store", "/r/s5", vec![("x-cc", "no-store")]),
        ("no-cache", "/r/s6", vec![("x-cc", "no-cache")]),
        (
            "private on a public route",
            "/r/s7",
            vec![("x-cc", "private")],
        ),
        (
            "malformed cache-control",
            "/r/s8",
            vec![("x-cc", "max-age=soon")],
        ),
        ("vary *", "/r/s9", vec![("x-vary", "*")]),
        (
            "vary on a header the route does not list",
            "/r/s10",
            vec![("x-vary", "accept-language")],
        ),
        ("a body over the cap", "/r/s11", vec![("x-big", "2000")]),
        (
            "a body of unknown size",
            "/r/s12",
            vec![("x-size", "unknown")],
        ),
    ];
    for (what, path, headers) in &cases {
        for _ in 0..2 {
            let response = send(&svc, get(path, headers, None, None)).await;
            assert_eq!(status(&response), "rampart; fwd=uri-miss", "{what}");
        }
    }
    assert_eq!(state.calls(), 24);
    // max-age=0 from the response: not stored either.
    send(&svc, get("/r/s13", &[("x-cc", "max-age=0")], None, None)).await;
    let response = send(&svc, get("/r/s13", &[("x-cc", "max-age=0")], None, None)).await;
    assert_eq!(status(&response), "rampart; fwd=uri-miss");
}

#[tokio::test]
async fn private_responses_are_stored_per_principal_only() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    let me = |p: &str| {
        get(
            "/p/me",
            &[("x-cc", "private"), ("authorization", "Bearer x")],
            Some("acme"),
            Some(p),
        )
    };
    send(&svc, me("u1")).await;
    let cached = send(&svc, me("u1")).await;
    assert!(status(&cached).contains("hit"));
    let other = send(&svc, me("u2")).await;
    assert!(status(&other).contains("uri-miss"));
    assert!(String::from_utf8_lossy(other.body()).contains("principal=u2"));
    assert_eq!(state.calls(), 2);
}

#[tokio::test]
async fn request_no_cache_forwards_and_refreshes() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    let first = send(&svc, get("/r/nc", &[], None, None)).await;
    for cc in ["no-cache", "max-age=0"] {
        let fresh = send(&svc, get("/r/nc", &[("cache-control", cc)], None, None)).await;
        assert_eq!(status(&fresh), "rampart; fwd=request; stored");
        assert_ne!(fresh.body(), first.body());
    }
    let cached = send(&svc, get("/r/nc", &[], None, None)).await;
    assert!(status(&cached).contains("hit"));
    assert!(String::from_utf8_lossy(cached.body()).ends_with("n=3"));
}

#[tokio::test]
async fn vary_headers_the_route_lists_are_part_of_the_key() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    let lang = |l: &str| {
        get(
            "/v/x",
            &[("accept-language", l), ("x-vary", "Accept-Language")],
            None,
            None,
        )
    };
    send(&svc, lang("en")).await;
    let fr = send(&svc, lang("fr")).await;
    assert!(String::from_utf8_lossy(fr.body()).contains("lang=fr"));
    let en = send(&svc, lang("en")).await;
    assert!(status(&en).contains("hit"));
    assert!(String::from_utf8_lossy(en.body()).contains("lang=en"));
    assert_eq!(state.calls(), 2);
}

/// No response cached for one tenant or principal is served to another;
/// the query is sorted; different requests never share an entry.
#[tokio::test]
async fn keys_separate_tenants_principals_and_queries() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    for round in 0..2 {
        for tenant in ["acme", "globex"] {
            for principal in ["u1", "u2"] {
                let auth = [("authorization", "Bearer t")];
                let t = send(&svc, get("/t/list", &auth, Some(tenant), Some(principal))).await;
                let text = String::from_utf8_lossy(t.body()).into_owned();
                assert!(text.contains(&format!("tenant={tenant} ")), "{text}");
                let p = send(&svc, get("/p/me", &auth, Some(tenant), Some(principal))).await;
                let text = String::from_utf8_lossy(p.body()).into_owned();
                assert!(
                    text.contains(&format!("tenant={tenant} principal={principal}")),
                    "{text}"
                );
                if round == 1 {
                    assert!(status(&t).contains("hit") && status(&p).contains("hit"));
                }
            }
            // A public route still keys on the tenant.
            let r = send(&svc, get("/r/shared", &[], Some(tenant), None)).await;
            assert!(String::from_utf8_lossy(r.body()).contains(&format!("tenant={tenant} ")));
        }
    }
    // tenant route: one entry per tenant (2); principal: per pair (4); public: per tenant (2).
    assert_eq!(state.calls(), 8);
    let a = send(&svc, get("/r/q?b=2&a=1", &[], None, None)).await;
    let b = send(&svc, get("/r/q?a=1&b=2", &[], None, None)).await;
    assert!(status(&b).contains("hit"));
    assert_eq!(a.body(), b.body());
    for other in [
        "/r/q?a=1&b=3",
        "/r/q?a=1",
        "/r/q",
        "/r/q?",
        "/r/q?a=1&b=2&c",
        "/r/Q?a=1&b=2",
    ] {
        let response = send(&svc, get(other, &[], None, None)).await;
        assert!(status(&response).contains("uri-miss"), "{other}");
    }
}

#[tokio::test]
async fn invalidating_a_tag_through_the_handle() {
    let state = Inner::default();
    let layer = layer(memory());
    let svc = service(&layer, &state);
    let handle = layer.handle();
    send(&svc, get("/items/7", &[], None, None)).await;
    send(&svc, get("/items/8", &[], None, None)).await;
    send(&svc, get("/t/list", &[], Some("acme"), None)).await;
    send(&svc, get("/t/list", &[], Some("globex"), None)).await;
    handle.invalidate_tags(["item:7", "t:acme"]).await.unwrap();
    let calls = state.calls();
    assert!(status(&send(&svc, get("/items/7", &[], None, None)).await).contains("uri-miss"));
    assert!(status(&send(&svc, get("/items/8", &[], None, None)).await).contains("hit"));
    assert!(
        status(&send(&svc, get("/t/list", &[], Some("acme"), None)).await).contains("uri-miss")
    );
    assert!(status(&send(&svc, get("/t/list", &[], Some("globex"), None)).await).contains("hit"));
    assert_eq!(state.calls(), calls + 2);
}

async fn hundred_concurrent_misses(store: Arc<dyn CacheStore>) {
    let state = Inner::default();
    let layer = rampart_cache::CacheLayer::builder_shared(store)
        .config(config())
        .build()
        .unwrap();
    let svc = service(&layer, &state);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move {
                send(&svc, get("/r/hot", &[("x-delay-ms", "100")], None, None)).await
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for task in tasks {
        let response = task.await.unwrap();
        assert_eq!(response.status(), 200);
        bodies.push(response.body().clone());
    }
    assert_eq!(state.calls(), 1, "one call to the inner service");
    assert!(bodies.iter().all(|b| *b == bodies[0]));
}

/// `Age` counts up from when the response was stored and `Cache-Status`'s
/// ttl down, second for second: from an entry decoded once and timed by the
/// monotonic clock after (memory), and from one decoded on every read
/// (Redis, whose stored time is the system clock's).
async fn age_counts_from_the_stored_response(store: impl CacheStore) {
    let state = Inner::default();
    let svc = service(&layer(store), &state);
    let first = send(&svc, get("/r/age", &[], None, None)).await;
    assert_eq!(header(&first, "age").as_deref(), Some("0"));
    // A hit now decodes the memory store's entry; the next is timed from it.
    let hit = send(&svc, get("/r/age", &[], None, None)).await;
    assert!(
        status(&hit).starts_with("rampart; hit; ttl="),
        "{}",
        status(&hit)
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let later = send(&svc, get("/r/age", &[], None, None)).await;
    let age: u64 = header(&later, "age").unwrap().parse().unwrap();
    let left: u64 = status(&later)
        .strip_prefix("rampart; hit; ttl=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(age >= 1, "age {age} after 1.2 s");
    assert_eq!(age + left, 300, "age {age}, ttl {left}: the route's 300 s");
    assert_eq!(state.calls(), 1);
}

#[tokio::test]
async fn age_counts_from_the_stored_response_memory() {
    age_counts_from_the_stored_response(memory()).await;
}

#[tokio::test]
async fn age_counts_from_the_stored_response_redis() {
    let Some(url) = redis_url() else { return };
    age_counts_from_the_stored_response(redis_store(&url, &unique_prefix("age")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_misses_one_call_memory() {
    hundred_concurrent_misses(Arc::new(memory())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_misses_one_call_redis() {
    let Some(url) = redis_url() else { return };
    hundred_concurrent_misses(Arc::new(redis_store(&url, &unique_prefix("hundred")).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_misses_one_call_two_tier() {
    let Some(url) = redis_url() else { return };
    hundred_concurrent_misses(Arc::new(two_tier(&url, &unique_prefix("hundred2")).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    let first = send(&svc, get("/swr/x", &[], None, None)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    state.version.store(2, std::sync::atomic::Ordering::SeqCst);
    let stale = send(&svc, get("/swr/x", &[], None, None)).await;
    assert_eq!(stale.body(), first.body());
    assert!(
        status(&stale).contains("detail=stale-while-revalidate"),
        "{}",
        status(&stale)
    );
    // The refresh runs in the background; soon a fresh entry is served.
    let mut refreshed = false;
    for _ in 0..100 {
        let response = send(&svc, get("/swr/x", &[], None, None)).await;
        if String::from_utf8_lossy(response.body()).contains("v=2") {
            assert!(status(&response).contains("hit"));
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refreshed);
    assert_eq!(state.calls(), 2, "one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_serves_stale_when_the_service_fails() {
    let state = Inner::default();
    let svc = service(&layer(memory()), &state);
    let first = send(&svc, get("/sie/x", &[], None, None)).await;
    send(&svc, get("/sie/y", &[], None, None)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    state.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let stale = send(&svc, get("/sie/x", &[], None, None)).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.body(), first.body());
    assert!(status(&stale).contains("detail=stale-if-error"));
    let on_500 = send(&svc, get("/sie/y", &[("x-fail-as", "500")], None, None)).await;
    assert_eq!(on_500.status(), 200);
    assert!(status(&on_500).contains("detail=stale-if-error"));
    // Nothing stale to serve: the service's error is the answer.
    let none = tower::ServiceExt::oneshot(svc.clone(), get("/sie/z", &[], None, None)).await;
    assert!(none.is_err());
    // Fresh again once the service is back.
    state.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let back = send(&svc, get("/sie/x", &[], None, None)).await;
    assert_eq!(status(&back), "rampart; fwd=stale; stored");
}

/// Two replicas (two layers, two two-tier stores) sharing Redis: a write
/// on one invalidates what the other serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_reaches_another_replica_through_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("replicas");
    let (state_a, state_b) = (Inner::default(), Inner::default());
    let layer_a = layer(two_tier(&url, &prefix).await);
    let layer_b = layer(two_tier(&url, &prefix).await);
    let (a, b) = (service(&layer_a, &state_a), service(&layer_b, &state_b));
    let from_a = send(&a, get("/items/1", &[], None, None)).await;
    let from_b = send(&b, get("/items/1", &[], None, None)).await;
    assert!(status(&from_b).contains("hit"), "B is served what A stored");
    assert_eq!(from_a.body(), from_b.body());
    let again = send(&b, get("/items/1", &[], None, None)).await;
    assert!(status(&again).contains("hit"), "now from B's local tier");
    layer_a.handle().invalidate_tags(["item:1"]).await.unwrap();
    let mut missed = false;
    for _ in 0..40 {
        let response = send(&b, get("/items/1", &[], None, None)).await;
        if status(&response).contains("uri-miss") {
            missed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(missed, "B still served the invalidated entry after 2 s");
    assert_eq!(state_a.calls() + state_b.calls(), 2);
}

/// A value in Redis that is not a cached response: the request is answered
/// by the service, counted as an error, and the value replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_redis_is_a_miss_not_an_error() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("garbage");
    let state = Inner::default();
    let layer = layer(redis_store(&url, &prefix).await);
    let svc = service(&layer, &state);
    send(&svc, get("/r/g", &[], None, None)).await;
    let mut conn = connect(&url).await;
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg(format!("{prefix}e:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    for garbage in [&b"\x01not a response"[..], b"\x07other format", b""] {
        let _: () = redis::cmd("HSET")
            .arg(&keys[0])
            .arg("v")
            .arg(garbage)
            .query_async(&mut conn)
            .await
            .unwrap();
        let response = send(&svc, get("/r/g", &[], None, None)).await;
        assert_eq!(response.status(), 200);
        assert!(status(&response).contains("fwd="), "{}", status(&response));
    }
    let response = send(&svc, get("/r/g", &[], None, None)).await;
    assert!(
        status(&response).contains("hit"),
        "replaced by a good entry"
    );
    assert!(layer.stats().get("public", CacheOutcome::Error).unwrap() >= 1);
}

/// With the `tenant` feature, the tenant is read from the
/// `rampart_tenant::Tenant` that `TenantLayer` puts in the extensions.
#[cfg(feature = "tenant")]
#[tokio::test]
async fn the_tenant_comes_from_rampart_tenant() {
    use rampart_tenant::{Limits, Tenant};

    let state = Inner::default();
    let layer = rampart_cache::CacheLayer::builder(memory())
        .config(config())
        .build()
        .unwrap();
    let svc = service(&layer, &state);
    let as_tenant = |id: &str| {
        let mut request = get("/t/list", &[], None, None);
        request
            .extensions_mut()
            .insert(Tenant::new(id.parse().unwrap(), Limits::new()));
        request
    };
    assert!(status(&send(&svc, as_tenant("acme")).await).contains("uri-miss"));
    assert!(status(&send(&svc, as_tenant("acme")).await).contains("hit"));
    assert!(status(&send(&svc, as_tenant("globex")).await).contains("uri-miss"));
    let none = send(&svc, get("/t/list", &[], None, None)).await;
    assert_eq!(status(&none), "rampart; fwd=bypass; detail=no-tenant");
    assert_eq!(state.calls(), 3);
}
