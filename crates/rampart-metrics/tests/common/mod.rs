//! What the test binaries share: promtool, and a registry with every kind
//! of series this crate writes.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::{
    convert::Infallible,
    io::Write,
    process::{Command, Stdio},
};

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Unit,
};
use rampart_metrics::{Format, Metrics, RouteLabel, StatusLabels};
use tower::{Layer, ServiceExt, service_fn};

/// `promtool`, or `None` after saying why the test skips; a failure when
/// `RAMPART_REQUIRE_SERVICES=1`.
pub(crate) fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("promtool");
    }
    let required = std::env::var("RAMPART_REQUIRE_SERVICES")
        .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
    assert!(
        !required,
        "promtool is not installed (apt-get install prometheus) and RAMPART_REQUIRE_SERVICES=1"
    );
    println!("skipped: promtool is not installed (apt-get install prometheus)");
    None
}

/// promtool's verdict on `text` and what it said: `promtool check metrics`
/// (the text format's parser and linter) for text 0.0.4; for OpenMetrics,
/// which `check metrics` does not know, the strict OpenMetrics parser of
/// `promtool tsdb create-blocks-from openmetrics` (samples there need a
/// timestamp, so one is added to each).
pub(crate) fn check(promtool: &str, format: Format, text: &str) -> (bool, String) {
    let output = if format == Format::OpenMetrics {
        let dir = std::env::temp_dir().join(format!(
            "rampart-metrics-promtool-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let stamped: String = text
            .lines()
            .map(|line| match line.starts_with('#') {
                true => format!("{line}\n"),
                false => format!("{line} 1700000000\n"),
            })
            .collect();
        let input = dir.join("input.om");
        std::fs::write(&input, stamped).unwrap();
        let output = Command::new(promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(dir.join("blocks"))
            .output()
            .expect("promtool starts");
        let _ = std::fs::remove_dir_all(&dir);
        output
    } else {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// A registry holding every kind of series: the HTTP ones with sizes, the
/// demo's business metrics, closures, and the Rampart collectors.
pub(crate) async fn full_registry(status: StatusLabels) -> Metrics {
    let metrics = Metrics::builder()
        .body_sizes(true)
        .status_labels(status)
        .build()
        .unwrap();
    let service = metrics
        .layer()
        .layer(service_fn(|req: Request<String>| async move {
            let mut response = Response::new(String::from("hello"));
            if req.uri().path() == "/missing" {
                *response.status_mut() = StatusCode::NOT_FOUND;
            }
            Ok::<_, Infallible>(response)
        }));
    for (method, path, route) in [
        (Method::GET, "/users/1", Some("/users/{id}")),
        (Method::POST, "/users", Some("/users")),
        (Method::from_bytes(b"PURGE").unwrap(), "/x", None),
        (Method::GET, "/missing", None),
        // A label value that needs escaping in both formats.
        (Method::GET, "/odd", Some("/odd/\"quoted\"\\path\n")),
    ] {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-length", "0")
            .body(String::new())
            .unwrap();
        if let Some(route) = route {
            request
                .extensions_mut()
                .insert(RouteLabel::from_static(route));
        }
        let response = service.clone().oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }

    let calls = Histogram::new([1.0, 10.0, 60.0, 300.0]);
    calls.observe(42.0);
    metrics
        .register("call_duration_seconds", "Length of finished calls.", calls)
        .unwrap();
    let failures = Family::<Vec<(String, String)>, Counter>::default();
    failures
        .get_or_create(&vec![("provider".into(), "twilio".into())])
        .inc();
    metrics
        .register(
            "provider_failures_total",
            "Telephony provider errors.",
            failures,
        )
        .unwrap();
    let runs = Counter::<u64>::default();
    runs.inc_by(3);
    metrics
        .register("campaign_executions", "Campaign runs.", runs)
        .unwrap();
    let queue = Gauge::<i64>::default();
    queue.set(4);
    metrics
        .register_with_unit(
            "campaign_queue",
            "Queued campaign bytes.",
            Unit::Bytes,
            queue,
        )
        .unwrap();
    metrics
        .register_counter_fn("tenant_quota_rejections", "Over quota.", || 5)
        .unwrap();
    metrics
        .register_gauge_fn("tenants_active", "Tenants seen.", || 2)
        .unwrap();
    register_rampart_collectors(&metrics);
    register_breakers(&metrics).await;
    register_cache(&metrics).await;
    metrics
}

/// A cache store whose `campaign_scripts` namespace saw one miss and one hit.
#[cfg(feature = "cache")]
async fn register_cache(metrics: &Metrics) {
    use rampart_cache::{Cache, MemoryCacheStore, Namespace};

    let cache = Cache::new(MemoryCacheStore::new(1 << 20));
    let scripts = cache.namespace(Namespace::campaign_scripts());
    for _ in 0..2 {
        let _: u32 = scripts
            .get_or_compute("7", &[], || async { Ok::<_, Infallible>(7) })
            .await
            .unwrap();
    }
    metrics.register_cache(cache.stats()).unwrap();
}

#[cfg(not(feature = "cache"))]
async fn register_cache(_: &Metrics) {}

/// A rate-limit store that fails while `down` is set, else decides in
/// memory: what a Redis store that went away looks like to its breaker.
#[cfg(feature = "ratelimit-breaker")]
#[derive(Debug, Default)]
pub(crate) struct Flaky {
    pub(crate) down: std::sync::atomic::AtomicBool,
    memory: rampart_ratelimit::MemoryStore,
}

#[cfg(feature = "ratelimit-breaker")]
impl rampart_ratelimit::Store for Flaky {
    fn decide(&self, demands: &[rampart_ratelimit::Demand]) -> rampart_ratelimit::StoreFuture {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            let error =
                rampart_ratelimit::RateLimitStoreError::Backend("connection refused".into());
            return rampart_ratelimit::StoreFuture::ready(Err(error));
        }
        self.memory.decide(demands)
    }
}

/// One decision through `store`.
#[cfg(feature = "ratelimit-breaker")]
pub(crate) async fn decide(store: &rampart_ratelimit::FallbackStore<std::sync::Arc<Flaky>>) {
    use rampart_ratelimit::{Demand, Key, Store};
    let demand = Demand::new("edge", "100/minute".parse().unwrap(), Key::text("client"));
    store.decide(&[demand]).await.unwrap();
}

/// Three breakers: `redis-edge` tripped and still open, `redis-login`
/// tripped, probed and recovered, and `odd "store"\` never tripped (a name
/// that needs escaping in both formats).
#[cfg(feature = "ratelimit-breaker")]
async fn register_breakers(metrics: &Metrics) {
    use std::sync::{Arc, atomic::Ordering};

    use rampart_ratelimit::FallbackStore;

    for (name, recovers) in [("redis-edge", false), ("redis-login", true)] {
        let flaky = Arc::new(Flaky::default());
        let store = FallbackStore::new(Arc::clone(&flaky)).probe_every(std::time::Duration::ZERO);
        flaky.down.store(true, Ordering::Relaxed);
        decide(&store).await;
        if recovers {
            flaky.down.store(false, Ordering::Relaxed);
            decide(&store).await;
        }
        metrics
            .register_ratelimit_breaker(name, store.stats())
            .unwrap();
    }
    let never = FallbackStore::new(Arc::new(Flaky::default()));
    metrics
        .register_ratelimit_breaker("odd \"store\"\\", never.stats())
        .unwrap();
}

#[cfg(not(feature = "ratelimit-breaker"))]
async fn register_breakers(_: &Metrics) {}

#[cfg(all(feature = "ratelimit", feature = "cors", feature = "headers"))]
fn register_rampart_collectors(metrics: &Metrics) {
    use rampart_headers::{
        csp::Directive,
        report::{ViolatedDirective, ViolationCounts},
    };
    use rampart_ratelimit::{MemoryStore, Policy, RateLimitLayer};

    for name in ["edge", "login"] {
        let layer = RateLimitLayer::builder(MemoryStore::new())
            .policy(Policy::parse(name, "10/minute").unwrap())
            .build()
            .unwrap();
        metrics.register_ratelimit(layer.stats()).unwrap();
    }
    let cors = rampart_cors::CorsLayer::new(
        &rampart_cors::CorsConfig::new().allow_origin("https://app.example.com"),
    )
    .unwrap();
    metrics.register_cors(cors.stats()).unwrap();
    let counts = ViolationCounts::default();
    counts.record(ViolatedDirective::Known(Directive::ScriptSrc));
    counts.record(ViolatedDirective::Other);
    metrics.register_csp_violations(counts).unwrap();
}

#[cfg(not(all(feature = "ratelimit", feature = "cors", feature = "headers")))]
fn register_rampart_collectors(_: &Metrics) {}
