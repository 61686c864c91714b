//! Redis killed during a run: no 5xx from the limiter, fallback from the
//! first failed request, back on Redis once it restarts. The test starts
//! and kills its own redis-server on a free loopback port.

mod common;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use rampart_ratelimit::{
    Demand, Fallback, FallbackStore, Key, Policy, RateLimitCounter, RateLimitLayer, RedisStore,
    Store,
};
use tower::{Layer, service_fn};

struct Server {
    child: Child,
    _dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(port: u16) -> Option<Server> {
    let dir =
        std::env::temp_dir().join(format!("rampart-rl-failover-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) => {
            if std::env::var("RAMPART_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("redis-server cannot be started: {error}");
            }
            println!("skipped: redis-server cannot be started: {error}");
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Server { child, _dir: dir })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_falls_back_then_returns() {
    let port = free_port();
    let Some(server) = start(port) else { return };
    let url = format!("redis://127.0.0.1:{port}");
    let mut admin = connect(&url).await;
    let store = FallbackStore::new(RedisStore::new(admin.clone()))
        .timeout(Duration::from_millis(50))
        .probe_every(Duration::from_millis(100));
    let breaker = store.stats();
    let layer = RateLimitLayer::builder(store)
        .policy(Policy::parse("global", "1000/hour").unwrap())
        .policy(
            Policy::parse("api", "100/minute")
                .unwrap()
                .path_prefix("/api")
                .on_store_failure(Fallback::Allow),
        )
        .build()
        .unwrap();
    let stats = layer.stats();
    let service = layer.layer(service_fn(ok));

    for i in 0..10 {
        let response = send(&service, from_ip("GET", "/api/x", "192.0.2.1")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "ratelimit").unwrap().split(", ").count(),
            2,
            "{i}"
        );
    }
    assert_eq!(stats.get("global", RateLimitCounter::Fallback), Some(0));
    let keys: i64 = redis::cmd("DBSIZE").query_async(&mut admin).await.unwrap();
    assert_eq!(keys, 2);

    drop(server);
    for i in 0..30 {
        let response = send(&service, from_ip("GET", "/api/x", "192.0.2.1")).await;
        assert!(
            !response.status().is_server_error(),
            "request {i}: {}",
            response.status()
        );
        assert_eq!(response.status(), 200);
        // The first failed request is already decided by the fallback.
        assert_eq!(stats.get("global", RateLimitCounter::Fallback), Some(i + 1));
        // The local limiter reports its own count; the blind "allow" reports nothing.
        let fields = header(&response, "ratelimit").unwrap();
        assert!(fields.starts_with("\"global\";r="), "{fields}");
        assert!(!fields.contains("\"api\""), "{fields}");
    }
    assert_eq!(breaker.trips(), 1);
    assert!(breaker.is_open());

    let _server = start(port).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while breaker.is_open() {
        assert!(Instant::now() < deadline, "never went back to Redis");
        let response = send(&service, from_ip("GET", "/api/x", "192.0.2.1")).await;
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(breaker.recoveries(), 1);
    let fallbacks = stats.get("global", RateLimitCounter::Fallback).unwrap();
    for _ in 0..5 {
        let response = send(&service, from_ip("GET", "/api/x", "192.0.2.1")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "ratelimit").unwrap().split(", ").count(),
            2
        );
    }
    assert_eq!(
        stats.get("global", RateLimitCounter::Fallback),
        Some(fallbacks)
    );
    let mut admin = connect(&url).await;
    let keys: i64 = redis::cmd("DBSIZE").query_async(&mut admin).await.unwrap();
    assert_eq!(keys, 2, "decisions are on the new Redis again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_policy_answers_503_while_redis_is_away() {
    let port = free_port();
    let Some(server) = start(port) else { return };
    let connection = connect(&format!("redis://127.0.0.1:{port}")).await;
    drop(server);
    let layer = RateLimitLayer::builder(
        FallbackStore::new(RedisStore::new(connection)).timeout(Duration::from_millis(50)),
    )
    .policy(Policy::parse("global", "1000/hour").unwrap())
    .policy(
        Policy::parse("payments", "10/minute")
            .unwrap()
            .path_prefix("/pay")
            .on_store_failure(Fallback::Reject),
    )
    .build()
    .unwrap();
    let stats = layer.stats();
    let service = layer.layer(service_fn(ok));
    let response = send(&service, from_ip("POST", "/pay", "192.0.2.1")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after").unwrap(), "1");
    assert_eq!(json(&response)["policy"], "payments");
    assert_eq!(
        stats.get("payments", RateLimitCounter::Unavailable),
        Some(1)
    );
    // Other routes keep working on the local fallback.
    assert_eq!(
        send(&service, from_ip("GET", "/", "192.0.2.1"))
            .await
            .status(),
        200
    );
}

/// The half-open probe's request is cancelled (its `decide` future dropped,
/// as when a client hangs up or a timeout fires around the layer): the
/// breaker must still close once Redis answers. Before the fix, the dropped
/// probe left the breaker "probing" for good: every later request went to
/// the fallback until restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_probe_does_not_keep_the_breaker_open() {
    let Some(url) = redis_url() else { return };
    let (proxy, proxied) = proxy::TcpProxy::in_front_of(&url).await;
    let store = FallbackStore::new(
        RedisStore::new(connect(&proxied).await).prefix(unique_prefix("cancelled-probe")),
    )
    .timeout(Duration::from_millis(200))
    .probe_every(Duration::from_millis(100));
    let breaker = store.stats();
    let demand = [Demand::new(
        "global",
        "1000/hour".parse().unwrap(),
        Key::text("client"),
    )];
    let verdict = store.decide(&demand).await.unwrap();
    assert!(verdict[0].admits() && !verdict[0].fallback);

    // Redis hangs: the request times out, is decided by the fallback, and
    // the breaker opens.
    proxy.stall().await;
    let verdict = store.decide(&demand).await.unwrap();
    assert!(verdict[0].fallback);
    assert!(breaker.is_open());

    // After the wait, the next request is the probe; it is cancelled while
    // Redis still hangs.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let probes = breaker.probes();
    let probe = store.decide(&demand);
    assert_eq!(breaker.probes(), probes + 1, "this request is the probe");
    assert!(
        tokio::time::timeout(Duration::from_millis(20), probe)
            .await
            .is_err(),
        "the probe was still waiting for Redis"
    );

    // Redis answers again: a later request probes, and the breaker closes.
    proxy.pass().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while breaker.is_open() {
        assert!(
            Instant::now() < deadline,
            "the breaker never closed: {} probes",
            breaker.probes()
        );
        store.decide(&demand).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(breaker.recoveries(), 1);
    let verdict = store.decide(&demand).await.unwrap();
    assert!(!verdict[0].fallback, "decided on Redis again");
}
