//! Quotas as a client sees them: concurrency slots (released on completion,
//! error, dropped request, dropped body, client disconnect over a real
//! socket), monthly counters exact under concurrency in memory and Redis.

mod common;
#[cfg(feature = "redis")]
#[path = "../../../tests/src/proxy.rs"]
#[allow(dead_code, unreachable_pub)] // the workspace tests' proxy; this file uses part of it
mod proxy;

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use rampart_core::ManualClock;
use rampart_tenant::{
    Charge, Limits, MemoryMonthlyStore, Month, MonthlyStore, Quotas, Tenant, TenantCounter,
    TenantId, TenantLayer,
};
use serde_json::Value;
use tokio::sync::oneshot;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

fn id(s: &str) -> TenantId {
    s.parse().unwrap()
}

fn tenant_layer(limits: Limits) -> TenantLayer {
    TenantLayer::builder()
        .from_path_prefix("/t/")
        .default_limits(limits)
        .build()
        .unwrap()
}

fn call(tenant: &str) -> Request<Full<Bytes>> {
    Request::post(format!("/t/{tenant}/calls"))
        .body(Full::default())
        .unwrap()
}

async fn problem(
    response: Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let value: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["status"], status.as_u16());
    value
}

type Gates = Arc<std::sync::Mutex<HashMap<String, oneshot::Receiver<bool>>>>;

/// A handler that waits for the gate named by the request's `x-gate`
/// header (if any) and then answers (`true`) or fails (`false`).
fn gated(
    gates: Gates,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = std::io::Error,
    Future: Send,
> + Clone {
    service_fn(move |request: Request<Full<Bytes>>| {
        let gate = request
            .headers()
            .get("x-gate")
            .and_then(|name| gates.lock().unwrap().remove(name.to_str().unwrap()));
        async move {
            let ok = match gate {
                Some(gate) => gate.await.unwrap_or(false),
                None => true,
            };
            if ok {
                Ok(Response::new(Full::new(Bytes::from("done"))))
            } else {
                Err(std::io::Error::other("handler failed"))
            }
        }
    })
}

fn gated_call(tenant: &str, gate: &str) -> Request<Full<Bytes>> {
    let mut request = call(tenant);
    request
        .headers_mut()
        .insert("x-gate", gate.parse().unwrap());
    request
}

#[tokio::test]
async fn concurrency_slot_is_released_on_completion_error_and_drop() {
    let quotas = Quotas::default();
    let layer = tenant_layer(Limits::new().max_concurrent(2));
    let stats = layer.stats();
    let gates = Gates::default();
    let service = ServiceBuilder::new()
        .layer(layer)
        .layer(quotas.layer().concurrent())
        .service(gated(Arc::clone(&gates)));
    let acme = id("acme");

    // Two requests in flight, each waiting on its gate.
    let (open_a, gate_a) = oneshot::channel();
    let (open_b, gate_b) = oneshot::channel();
    gates
        .lock()
        .unwrap()
        .extend([("a".to_owned(), gate_a), ("b".to_owned(), gate_b)]);
    let a = tokio::spawn(service.clone().oneshot(gated_call("acme", "a")));
    let b = tokio::spawn(service.clone().oneshot(gated_call("acme", "b")));
    wait_until(|| quotas.in_flight(&acme) == 2).await;
    assert_eq!(stats.in_flight(), 2);

    // A third is refused: 429 naming the quota; another tenant is not.
    let refused = service.clone().oneshot(call("acme")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!refused.headers().contains_key("retry-after"));
    let value = problem(refused).await;
    assert_eq!(value["quota"], "concurrent");
    assert_eq!(value["limit"], 2);
    let other = service.clone().oneshot(call("beta")).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    drop(other);

    // Completion: the slot goes when the body has been read.
    open_a.send(true).unwrap();
    let response = a.await.unwrap().unwrap();
    assert_eq!(quotas.in_flight(&acme), 2, "held until the body ends");
    response.into_body().collect().await.unwrap();
    assert_eq!(quotas.in_flight(&acme), 1);

    // Error: the handler fails, the slot goes with its future.
    open_b.send(false).unwrap();
    assert!(b.await.unwrap().is_err());
    assert_eq!(quotas.in_flight(&acme), 0);

    // Dropped request (the client went away before the answer).
    let (_never, gate_c) = oneshot::channel::<bool>();
    gates.lock().unwrap().insert("c".to_owned(), gate_c);
    let pending = tokio::spawn(service.clone().oneshot(gated_call("acme", "c")));
    wait_until(|| quotas.in_flight(&acme) == 1).await;
    pending.abort();
    wait_until(|| quotas.in_flight(&acme) == 0).await;

    // Dropped body: an answered request whose body is never read.
    let response = service.clone().oneshot(call("acme")).await.unwrap();
    assert_eq!(quotas.in_flight(&acme), 1);
    drop(response);
    assert_eq!(quotas.in_flight(&acme), 0);
    assert_eq!(stats.in_flight(), 0);
    assert_eq!(stats.get(TenantCounter::ConcurrencyLimited), 1);
}

/// A request cancelled while its month is charged (the store is Redis,
/// hanging) gives back the concurrency slot it took before that wait; once
/// Redis answers, the tenant's next request gets the slot.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cancelled_while_its_month_is_charged_gives_its_slot_back() {
    let Some(url) = common::service_url("REDIS_URL") else {
        return;
    };
    let (proxy, proxied) = proxy::TcpProxy::in_front_of(&url).await;
    let client = redis::Client::open(proxied).unwrap();
    let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
    let prefix = format!("{}:", common::unique("rampart-tenant-cancel"));
    let quotas = Quotas::new(rampart_tenant::RedisMonthlyStore::new(connection).prefix(prefix));
    let service = ServiceBuilder::new()
        .layer(tenant_layer(
            Limits::new().max_concurrent(1).monthly("calls", 30),
        ))
        .layer(quotas.layer().concurrent().monthly("calls"))
        .service(gated(Arc::default()));
    let acme = id("acme");

    proxy.stall().await;
    let pending = tokio::spawn(service.clone().oneshot(call("acme")));
    wait_until(|| quotas.in_flight(&acme) == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!pending.is_finished(), "waiting for the month's charge");
    pending.abort();
    wait_until(|| quotas.in_flight(&acme) == 0).await;

    proxy.pass().await;
    let response = service.clone().oneshot(call("acme")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    assert_eq!(quotas.in_flight(&acme), 0);
}

#[tokio::test]
async fn a_route_without_a_tenant_is_401() {
    let quotas = Quotas::default();
    let service = ServiceBuilder::new()
        .layer(quotas.layer().concurrent().monthly("calls"))
        .service(gated(Arc::default()));
    let response = service.oneshot(call("acme")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    problem(response).await;
}

#[tokio::test]
async fn quotas_not_set_are_not_enforced() {
    let quotas = Quotas::default();
    let service = ServiceBuilder::new()
        .layer(tenant_layer(Limits::new()))
        .layer(quotas.layer().concurrent().monthly("calls"))
        .service(gated(Arc::default()));
    for _ in 0..20 {
        let response = service.clone().oneshot(call("acme")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

/// An endless body: a chunk every 20 ms until the connection drops it.
struct Ticker(tokio::time::Interval);

impl http_body::Body for Ticker {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_tick(cx)
            .map(|_| Some(Ok(Frame::data(Bytes::from_static(b"tick\n")))))
    }
}

#[tokio::test]
async fn slot_is_released_when_the_client_disconnects_mid_response() {
    use axum::{Router, body::Body, routing::post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let quotas = Quotas::default();
    let layer = tenant_layer(Limits::new().max_concurrent(1));
    let stats = layer.stats();
    let app = Router::new()
        .route(
            "/t/{tenant}/calls",
            post(|| async { Body::new(Ticker(tokio::time::interval(Duration::from_millis(20)))) })
                .route_layer(quotas.layer().concurrent()),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let request = b"POST /t/acme/calls HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n";
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client.write_all(request).await.unwrap();
    let mut buffer = vec![0; 4096];
    let mut seen = String::new();
    while !seen.contains("tick") {
        let n = client.read(&mut buffer).await.unwrap();
        assert!(n > 0, "server closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    let acme = id("acme");
    assert_eq!(quotas.in_flight(&acme), 1);

    // While it streams, a second call is refused with 429.
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"POST /t/acme/calls HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    second.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // The client hangs up mid-response: the server drops the body.
    drop(client);
    wait_until(|| quotas.in_flight(&acme) == 0).await;
    assert_eq!(stats.in_flight(), 0);

    // And the tenant can call again.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let n = third.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
    drop(third);
    wait_until(|| quotas.in_flight(&acme) == 0).await;
    server.abort();
}

/// Polls `done` for up to 20 s (CI machines are slow).
async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// 50 charges at once against a limit of 30: exactly 30 pass.
async fn exact_under_concurrency(store: impl MonthlyStore + Clone, tenant: &str) {
    let tenant: TenantId = tenant.parse().unwrap();
    let month = Month::containing(SystemTime::now());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let store = store.clone();
        let tenant = tenant.clone();
        tasks.spawn(async move {
            store
                .charge(&Charge {
                    tenant: &tenant,
                    quota: "calls",
                    month,
                    limit: 30,
                    cost: 1,
                })
                .await
                .unwrap()
        });
    }
    let mut admitted = 0;
    let mut used = Vec::new();
    while let Some(usage) = tasks.join_next().await {
        let usage = usage.unwrap();
        admitted += u32::from(usage.admitted);
        used.push(usage.used);
    }
    assert_eq!(admitted, 30);
    assert_eq!(used.iter().max(), Some(&30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monthly_quota_is_exact_under_50_concurrent_increments_in_memory() {
    exact_under_concurrency(MemoryMonthlyStore::new(), "acme").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monthly_quota_is_exact_under_50_concurrent_increments_in_redis() {
    let Some(url) = common::service_url("REDIS_URL") else {
        return;
    };
    let client = redis::Client::open(url).unwrap();
    let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
    let prefix = format!("{}:", common::unique("rampart-tenant-test"));
    let store = rampart_tenant::RedisMonthlyStore::new(connection.clone()).prefix(prefix.clone());
    exact_under_concurrency(store.clone(), "acme").await;

    // The key expires a day after the month ends, not before.
    let tenant = id("acme");
    let month = Month::containing(SystemTime::now());
    let key = store.key(&Charge {
        tenant: &tenant,
        quota: "calls",
        month,
        limit: 0,
        cost: 0,
    });
    assert!(key.starts_with(&prefix) && key.contains("{acme}"), "{key}");
    let mut connection = connection;
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    let until_end = month.remaining(SystemTime::now()).as_secs();
    let ttl = u64::try_from(ttl).expect("the key has an expiry");
    assert!(
        ttl > until_end && ttl <= until_end + 86_400 + 5,
        "ttl {ttl}, month ends in {until_end}"
    );
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monthly_quota_through_the_layer_in_redis() {
    let Some(url) = common::service_url("REDIS_URL") else {
        return;
    };
    let client = redis::Client::open(url).unwrap();
    let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
    let prefix = format!("{}:", common::unique("rampart-tenant-test"));
    let quotas = Quotas::new(rampart_tenant::RedisMonthlyStore::new(connection).prefix(prefix));
    monthly_through_the_layer(quotas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn monthly_quota_through_the_layer_in_memory() {
    monthly_through_the_layer(Quotas::default()).await;
}

async fn monthly_through_the_layer(quotas: Quotas) {
    let layer = tenant_layer(Limits::new().monthly("calls", 30));
    let stats = layer.stats();
    let service = ServiceBuilder::new()
        .layer(layer)
        .layer(quotas.layer().monthly("calls"))
        .service(gated(Arc::default()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let service = service.clone();
        tasks.spawn(async move { service.oneshot(call("acme")).await.unwrap() });
    }
    let (mut ok, mut limited) = (0, 0);
    while let Some(response) = tasks.join_next().await {
        let response = response.unwrap();
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                let retry: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=31 * 86_400).contains(&retry), "{retry}");
                let value = problem(response).await;
                assert_eq!(value["quota"], "calls");
                assert_eq!(value["limit"], 30);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, limited), (30, 20));
    assert_eq!(stats.get(TenantCounter::MonthlyAdmitted), 30);
    assert_eq!(stats.get(TenantCounter::MonthlyLimited), 20);
}

#[tokio::test]
async fn the_month_turns_over_at_midnight_utc() {
    // 2026-11-30T23:59:00Z.
    let clock = ManualClock::starting_at(UNIX_EPOCH + Duration::from_secs(1_796_083_140));
    let quotas = Quotas::with_clock(MemoryMonthlyStore::new(), clock.clone());
    let service = ServiceBuilder::new()
        .layer(tenant_layer(Limits::new().monthly("calls", 1)))
        .layer(quotas.layer().monthly("calls"))
        .service(gated(Arc::default()));
    assert_eq!(
        service
            .clone()
            .oneshot(call("acme"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let refused = service.clone().oneshot(call("acme")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "60");
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        service
            .clone()
            .oneshot(call("acme"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        service.oneshot(call("acme")).await.unwrap().headers()["retry-after"],
        "2678400" // all of December
    );
}

#[tokio::test]
async fn refused_concurrency_does_not_charge_the_month() {
    let quotas = Quotas::default();
    let tenant = Tenant::new(
        id("acme"),
        Limits::new().max_concurrent(0).monthly("calls", 5),
    );
    let service = ServiceBuilder::new()
        .layer(quotas.layer().concurrent().monthly("calls"))
        .service(gated(Arc::default()));
    for _ in 0..3 {
        let mut request = call("acme");
        request.extensions_mut().insert(tenant.clone());
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(quotas.charge_monthly(&tenant, "calls", 5).await, Ok(5));
}

#[tokio::test]
async fn counted_resources_answer_403_naming_the_quota() {
    let tenant = Tenant::new(
        id("acme"),
        Limits::new().counted("users", 25).counted("campaigns", 50),
    );
    assert!(tenant.check_count("users", 24).is_ok());
    assert!(
        tenant.check_count("contacts", 1_000_000).is_ok(),
        "no quota, no limit"
    );
    let refused = tenant.check_count("campaigns", 50).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "resource quota \"campaigns\" of 50 reached"
    );
    let response = refused.into_response::<Full<Bytes>>();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let value = problem(response).await;
    assert_eq!(value["quota"], "campaigns");
    assert_eq!(value["limit"], 50);
    assert_eq!(value["title"], "Quota exceeded");
}
