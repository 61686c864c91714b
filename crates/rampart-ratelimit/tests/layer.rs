//! The layer as a client sees it: statuses, headers, bodies, counters.

mod common;

use std::time::Duration;

use common::*;
use http::Method;
use rampart_core::{ClientIpLayer, ManualClock, TrustedProxies};
use rampart_ratelimit::{
    ClientIpAnd, FnKey, Key, MemoryStore, Policy, RateLimitConfigIssue, RateLimitCounter,
    RateLimitHeaders, RateLimitLayer, RateLimitLayerBuilder,
};
use tower::{Layer, ServiceBuilder, service_fn};

fn builder(clock: &ManualClock) -> RateLimitLayerBuilder {
    RateLimitLayer::builder(MemoryStore::builder().clock(clock.clone()).build())
}

fn policy(name: &str, quota: &str) -> Policy {
    Policy::parse(name, quota).unwrap()
}

#[tokio::test]
async fn rejection_carries_retry_after_fields_and_problem() {
    let clock = ManualClock::new();
    let layer = builder(&clock)
        .policy(policy("api", "100/minute"))
        .legacy_headers(true)
        .build()
        .unwrap();
    let service = layer.layer(service_fn(ok));
    for i in 0..100 {
        let response = send(&service, from_ip("GET", "/api/x", "192.0.2.1")).await;
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(
            header(&response, "ratelimit").unwrap(),
            format!(
                "\"api\";r={};t={}",
                99 - i,
                (i + 1) * 6 / 10 + u32::from((i + 1) * 6 % 10 != 0)
            )
        );
    }
    let response = send(&service, from_ip("GET", "/api/x", "192.0.2.1")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after").unwrap(), "1");
    assert_eq!(
        header(&response, "ratelimit-policy").unwrap(),
        "\"api\";q=100;w=60"
    );
    assert_eq!(header(&response, "ratelimit").unwrap(), "\"api\";r=0;t=1");
    assert_eq!(header(&response, "x-ratelimit-limit").unwrap(), "100");
    assert_eq!(header(&response, "x-ratelimit-remaining").unwrap(), "0");
    assert_eq!(header(&response, "x-ratelimit-reset").unwrap(), "1");
    assert_eq!(
        header(&response, "content-type").unwrap(),
        "application/problem+json"
    );
    let body = json(&response);
    assert_eq!(body["status"], 429);
    assert_eq!(body["policy"], "api");
    assert_eq!(body["retry_after"], 1);
    assert!(body["detail"].as_str().unwrap().contains("100/minute"));
    // Another client has its own quota.
    let other = send(&service, from_ip("GET", "/api/x", "192.0.2.2")).await;
    assert_eq!(other.status(), 200);
    let stats = layer.stats();
    assert_eq!(stats.get("api", RateLimitCounter::Admitted), Some(101));
    assert_eq!(stats.get("api", RateLimitCounter::Limited), Some(1));
}

#[tokio::test]
async fn retry_after_agrees_with_when_the_next_request_succeeds() {
    let clock = ManualClock::new();
    let service = builder(&clock)
        .policy(policy("login", "5/15minutes"))
        .build()
        .unwrap()
        .layer(service_fn(ok));
    for _ in 0..5 {
        send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
    }
    let limited = send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = header(&limited, "retry-after").unwrap().parse().unwrap();
    assert_eq!(retry, 180);
    assert_eq!(
        header(&limited, "ratelimit").unwrap(),
        "\"login\";r=0;t=180"
    );
    clock.advance(Duration::from_secs(retry) - Duration::from_millis(1));
    let early = send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
    assert_eq!(early.status(), 429);
    assert_eq!(header(&early, "retry-after").unwrap(), "1");
    clock.advance(Duration::from_millis(1));
    let on_time = send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
    assert_eq!(on_time.status(), 200);
}

#[tokio::test]
async fn sub_second_waits_round_up_to_one_second() {
    let clock = ManualClock::new();
    let service = builder(&clock)
        .policy(policy("fast", "10/s"))
        .build()
        .unwrap()
        .layer(service_fn(ok));
    for _ in 0..10 {
        send(&service, from_ip("GET", "/", "192.0.2.1")).await;
    }
    let response = send(&service, from_ip("GET", "/", "192.0.2.1")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after").unwrap(), "1");
    clock.advance(Duration::from_millis(100));
    assert_eq!(
        send(&service, from_ip("GET", "/", "192.0.2.1"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn no_policy_is_charged_unless_all_admit() {
    let clock = ManualClock::new();
    let layer = builder(&clock)
        .policy(policy("global", "10/hour"))
        .policy(policy("login", "2/15minutes").path_prefix("/auth/login"))
        .build()
        .unwrap();
    let service = layer.layer(service_fn(ok));
    for _ in 0..2 {
        assert_eq!(
            send(&service, from_ip("POST", "/auth/login", "192.0.2.1"))
                .await
                .status(),
            200
        );
    }
    for _ in 0..3 {
        let response = send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
        assert_eq!(response.status(), 429);
        assert_eq!(json(&response)["policy"], "login");
    }
    // The global policy was charged for the 2 admitted requests only.
    let response = send(&service, from_ip("GET", "/other", "192.0.2.1")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "ratelimit").unwrap(),
        "\"global\";r=7;t=1080"
    );
    // Both policies appear on an admitted request they both apply to.
    clock.advance(Duration::from_secs(900));
    let response = send(&service, from_ip("POST", "/auth/login", "192.0.2.1")).await;
    assert_eq!(
        header(&response, "ratelimit-policy").unwrap(),
        "\"global\";q=10;w=3600, \"login\";q=2;w=900"
    );
}

#[tokio::test]
async fn the_longest_wait_names_the_policy() {
    let clock = ManualClock::new();
    let service = builder(&clock)
        .policy(policy("a", "1/minute"))
        .policy(policy("b", "1/hour"))
        .build()
        .unwrap()
        .layer(service_fn(ok));
    send(&service, from_ip("GET", "/", "192.0.2.1")).await;
    let response = send(&service, from_ip("GET", "/", "192.0.2.1")).await;
    assert_eq!(json(&response)["policy"], "b");
    assert_eq!(header(&response, "retry-after").unwrap(), "3600");
}

#[tokio::test]
async fn shadow_mode_counts_but_never_rejects() {
    let clock = ManualClock::new();
    let layer = builder(&clock)
        .policy(policy("trial", "2/minute").shadow())
        .build()
        .unwrap();
    let service = layer.layer(service_fn(ok));
    for _ in 0..5 {
        let response = send(&service, from_ip("GET", "/", "192.0.2.1")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit"), None);
    }
    let stats = layer.stats();
    assert_eq!(stats.get("trial", RateLimitCounter::Admitted), Some(2));
    assert_eq!(stats.get("trial", RateLimitCounter::ShadowLimited), Some(3));
}

#[tokio::test]
async fn exemptions_and_scope() {
    let clock = ManualClock::new();
    let layer = builder(&clock)
        .policy(
            policy("global", "1/hour")
                .except_paths(["/health", "/ready", "/metrics"])
                .exempt_networks_str(["10.0.0.0/8"])
                .unwrap()
                .exempt_if(|parts| parts.headers.contains_key("x-internal-probe")),
        )
        .policy(
            policy("writes", "1/hour")
                .methods([Method::POST])
                .path_prefix("/api"),
        )
        .build()
        .unwrap();
    let service = layer.layer(service_fn(ok));
    for _ in 0..3 {
        assert_eq!(
            send(&service, from_ip("GET", "/health", "192.0.2.1"))
                .await
                .status(),
            200
        );
        assert_eq!(
            send(&service, from_ip("GET", "/metrics", "192.0.2.1"))
                .await
                .status(),
            200
        );
        assert_eq!(
            send(&service, from_ip("GET", "/x", "10.1.2.3"))
                .await
                .status(),
            200
        );
        let mut probe = from_ip("GET", "/x", "192.0.2.9");
        probe
            .headers_mut()
            .insert("x-internal-probe", "1".parse().unwrap());
        assert_eq!(send(&service, probe).await.status(), 200);
    }
    // /healthz is not under /health.
    assert_eq!(
        send(&service, from_ip("GET", "/healthz", "192.0.2.1"))
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&service, from_ip("GET", "/healthz", "192.0.2.1"))
            .await
            .status(),
        429
    );
    let stats = layer.stats();
    assert_eq!(stats.get("global", RateLimitCounter::Exempt), Some(6));
    // POST /api is the writes policy's; GET /api is not.
    assert_eq!(
        send(&service, from_ip("POST", "/api/a", "192.0.2.5"))
            .await
            .status(),
        200
    );
    let response = send(&service, from_ip("POST", "/api/a", "192.0.2.6")).await;
    assert_eq!(response.status(), 200);
    let response = send(&service, from_ip("POST", "/api/b", "192.0.2.6")).await;
    assert_eq!(response.status(), 429);
}

#[tokio::test]
async fn a_request_without_a_key_is_not_limited_and_is_counted() {
    let clock = ManualClock::new();
    let layer = builder(&clock)
        .policy(policy("global", "1/hour"))
        .build()
        .unwrap();
    let service = layer.layer(service_fn(ok));
    for _ in 0..3 {
        let request = http::Request::get("/").body(Default::default()).unwrap();
        let response = send(&service, request).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit"), None);
    }
    assert_eq!(
        layer.stats().get("global", RateLimitCounter::NoKey),
        Some(3)
    );
}

#[tokio::test]
async fn header_modes() {
    let clock = ManualClock::new();
    for (mode, on_pass, on_reject) in [
        (RateLimitHeaders::Always, true, true),
        (RateLimitHeaders::OnRejection, false, true),
        (RateLimitHeaders::Never, false, false),
    ] {
        let service = builder(&clock)
            .policy(policy("p", "1/hour"))
            .headers(mode)
            .build()
            .unwrap()
            .layer(service_fn(ok));
        let pass = send(&service, from_ip("GET", "/", "192.0.2.1")).await;
        let reject = send(&service, from_ip("GET", "/", "192.0.2.1")).await;
        assert_eq!(header(&pass, "ratelimit").is_some(), on_pass, "{mode:?}");
        assert_eq!(
            header(&reject, "ratelimit-policy").is_some(),
            on_reject,
            "{mode:?}"
        );
        assert_eq!(header(&reject, "retry-after").unwrap(), "3600");
        assert_eq!(header(&pass, "x-ratelimit-limit"), None);
    }
}

#[tokio::test]
async fn cost_spends_several_units() {
    let clock = ManualClock::new();
    let service = builder(&clock)
        .policy(policy("export", "5/minute").cost(2))
        .build()
        .unwrap()
        .layer(service_fn(ok));
    let first = send(&service, from_ip("GET", "/", "192.0.2.1")).await;
    assert_eq!(header(&first, "ratelimit").unwrap(), "\"export\";r=3;t=24");
    send(&service, from_ip("GET", "/", "192.0.2.1")).await;
    let third = send(&service, from_ip("GET", "/", "192.0.2.1")).await;
    assert_eq!(third.status(), 429);
    assert_eq!(header(&third, "ratelimit").unwrap(), "\"export\";r=1;t=12");
}

#[tokio::test]
async fn composite_login_key_separates_names_and_addresses() {
    let clock = ManualClock::new();
    let login_name = FnKey::new(|parts| parts.headers.get("x-login")?.to_str().ok().map(Key::text));
    let service = builder(&clock)
        .policy(policy("login", "1/15minutes").key(ClientIpAnd::new(login_name)))
        .build()
        .unwrap()
        .layer(service_fn(ok));
    let attempt = |ip: &str, name: Option<&str>| {
        let mut request = from_ip("POST", "/auth/login", ip);
        if let Some(name) = name {
            request
                .headers_mut()
                .insert("x-login", name.parse().unwrap());
        }
        request
    };
    assert_eq!(
        send(&service, attempt("192.0.2.1", Some("ada")))
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&service, attempt("192.0.2.1", Some("ada")))
            .await
            .status(),
        429
    );
    assert_eq!(
        send(&service, attempt("192.0.2.1", Some("bob")))
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&service, attempt("192.0.2.2", Some("ada")))
            .await
            .status(),
        200
    );
    // No name submitted: not this policy's business (the global one still counts).
    assert_eq!(
        send(&service, attempt("192.0.2.1", None)).await.status(),
        200
    );
    assert_eq!(
        send(&service, attempt("192.0.2.1", None)).await.status(),
        200
    );
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_key() {
    let clock = ManualClock::new();
    let service = ServiceBuilder::new()
        .layer(ClientIpLayer::new().trusted_proxies(TrustedProxies::loopback()))
        .layer(
            builder(&clock)
                .policy(policy("global", "2/hour"))
                .build()
                .unwrap(),
        )
        .service_fn(ok);
    // An untrusted peer rotates X-Forwarded-For: one quota all the same.
    for (i, spoof) in ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]
        .into_iter()
        .enumerate()
    {
        let response = send(&service, from_peer("/", "203.0.113.5", Some(spoof))).await;
        assert_eq!(response.status(), if i < 2 { 200 } else { 429 }, "{spoof}");
    }
    // Behind a trusted proxy, each forwarded client has its own quota.
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        for _ in 0..2 {
            let response = send(&service, from_peer("/", "127.0.0.1", Some(client))).await;
            assert_eq!(response.status(), 200, "{client}");
        }
        let response = send(&service, from_peer("/", "127.0.0.1", Some(client))).await;
        assert_eq!(response.status(), 429, "{client}");
    }
}

#[test]
fn bad_configuration_is_a_typed_error() {
    let clock = ManualClock::new();
    let issues = |builder: RateLimitLayerBuilder| builder.build().unwrap_err().issues().to_vec();
    assert_eq!(issues(builder(&clock)), [RateLimitConfigIssue::NoPolicies]);
    assert_eq!(
        issues(
            builder(&clock)
                .policy(policy("a", "1/s"))
                .policy(policy("a", "2/s"))
        ),
        [RateLimitConfigIssue::DuplicateName("a".into())]
    );
    assert_eq!(
        issues(builder(&clock).policy(policy("a", "1/s").cost(0))),
        [RateLimitConfigIssue::ZeroCost("a".into())]
    );
    assert_eq!(
        issues(builder(&clock).policy(policy("a", "10/minute;burst=3").cost(4))),
        [RateLimitConfigIssue::CostAboveBurst {
            policy: "a".into(),
            cost: 4,
            burst: 3
        }]
    );
}

#[test]
fn bad_configuration_lists_every_problem() {
    let clock = ManualClock::new();
    let err = builder(&clock)
        .policy(policy("a", "1/s").cost(0))
        .policy(policy("b", "10/minute;burst=3").cost(4))
        .policy(policy("a", "2/s"))
        .build()
        .unwrap_err();
    assert_eq!(
        err.issues(),
        [
            RateLimitConfigIssue::ZeroCost("a".into()),
            RateLimitConfigIssue::CostAboveBurst {
                policy: "b".into(),
                cost: 4,
                burst: 3
            },
            RateLimitConfigIssue::DuplicateName("a".into()),
        ]
    );
    let message = err.to_string();
    assert!(message.contains("(3 problems)"), "{message}");
    assert!(message.contains("`a` costs 0"), "{message}");
    assert!(message.contains("`b` costs 4"), "{message}");
    assert!(message.contains("two policies are named `a`"), "{message}");
}

#[tokio::test]
async fn clones_share_one_count() {
    let clock = ManualClock::new();
    let layer = builder(&clock)
        .policy(policy("p", "3/hour"))
        .build()
        .unwrap();
    let mut admitted = 0;
    for _ in 0..10 {
        // A server that makes a service per connection (axum does) still limits.
        let per_connection = layer.layer(service_fn(ok));
        if send(&per_connection, from_ip("GET", "/", "192.0.2.1"))
            .await
            .status()
            == 200
        {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3);
}

#[tokio::test]
async fn nested_limits_list_both_policies_and_keep_the_inner_legacy_fields() {
    let clock = ManualClock::new();
    let global = builder(&clock)
        .policy(policy("global", "100/minute"))
        .legacy_headers(true)
        .build()
        .unwrap();
    let login = builder(&clock)
        .policy(policy("login", "1/hour"))
        .legacy_headers(true)
        .build()
        .unwrap();
    let service = global.layer(login.layer(service_fn(ok)));
    let all = |response: &http::Response<bytes::Bytes>, name: &str| -> Vec<String> {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };

    let pass = send(&service, from_ip("POST", "/auth/login", "192.0.2.9")).await;
    assert_eq!(pass.status(), 200);
    assert_eq!(
        all(&pass, "ratelimit-policy"),
        ["\"login\";q=1;w=3600", "\"global\";q=100;w=60"]
    );
    assert_eq!(all(&pass, "ratelimit").len(), 2);

    // The inner limit refuses; the outer one admitted and adds its own items
    // beside the inner's instead of replacing them.
    let reject = send(&service, from_ip("POST", "/auth/login", "192.0.2.9")).await;
    assert_eq!(reject.status(), 429);
    assert_eq!(
        all(&reject, "ratelimit-policy"),
        ["\"login\";q=1;w=3600", "\"global\";q=100;w=60"]
    );
    let fields = all(&reject, "ratelimit");
    assert_eq!(fields[0], "\"login\";r=0;t=3600");
    assert!(fields[1].starts_with("\"global\";r=98;"), "{fields:?}");
    assert_eq!(header(&reject, "x-ratelimit-limit").unwrap(), "1");
    assert_eq!(header(&reject, "x-ratelimit-remaining").unwrap(), "0");
    assert_eq!(json(&reject)["policy"], "login");
}
