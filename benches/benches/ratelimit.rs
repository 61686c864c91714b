//! Rate limiting per request: rampart-ratelimit's layer on its memory store
//! beside tower_governor, same quota, same key, same requests, same run.
//!
//! The key on both sides is the client address from rampart-core's
//! `ClientIp` extension (tower_governor through a `KeyExtractor` that reads
//! it), so both limit the same thing. Requests come from 1,024 client
//! addresses in turn and are built outside the timed part. The quota is
//! 1,000,000 per second with a burst of 1,000,000 (one unit back every
//! microsecond) so that `admitted` measures the path of a request that
//! passes; `limited` uses 1 per hour on one exhausted key.
//!
//! Both services are polled without a runtime: the memory store answers at
//! once, and so does tower_governor.
//!
//! With `REDIS_URL` set, a second group times 50 concurrent decisions on the
//! Redis store (one `EVALSHA` each, on one shared `ConnectionManager`) and
//! prints the `redis-benchmark` command that runs the same script with the
//! same arguments at 50 connections, for the decisions-per-second ratio.
//!
//! `cargo bench -p rampart-benches --bench ratelimit`
//!
//! Instruction counts (steadier than times on a loaded machine): with
//! `RATELIMIT_CALLGRIND=rampart|rampart_no_fields|tower_governor|tower_governor_headers|bare`
//! the binary skips criterion and sends 100,000 admitted requests through
//! that service (`bare`: the inner service alone, the part both sides
//! share), each inside `measured_call`, so that
//! `valgrind --tool=callgrind --toggle-collect='*measured_call*' <bench binary>`
//! counts only the work of the services (total / 100,000 = per request).

mod common;

use std::{
    hint::black_box,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use axum::body::Body;
use common::{Calls, call_now};
use criterion::Criterion;
use governor::{clock::QuantaInstant, middleware::NoOpMiddleware};
use http::{Request, Response};
use rampart::{
    core::{ClientIp, ClientIpSource},
    ratelimit::{MemoryStore, Policy, Quota, RateLimitHeaders, RateLimitLayer},
};
use tower::{Layer, Service, service_fn};
use tower_governor::{
    GovernorError, GovernorLayer, governor::GovernorConfigBuilder, key_extractor::KeyExtractor,
};

/// tower_governor keyed on the same `ClientIp` extension as ours.
#[derive(Debug, Clone, Copy)]
struct ClientIpExtension;

impl KeyExtractor for ClientIpExtension {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, GovernorError> {
        req.extensions()
            .get::<ClientIp>()
            .map(ClientIp::ip)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// One request through `service` and the response dropped (freeing what
/// the service added to it), the only code callgrind counts in
/// `RATELIMIT_CALLGRIND` mode.
#[inline(never)]
fn measured_call<S>(service: &mut S, request: Request<Body>)
where
    S: Service<Request<Body>>,
    S::Error: std::fmt::Debug,
{
    drop(black_box(call_now(service, request)));
}

/// `RATELIMIT_CALLGRIND` mode: 100,000 admitted requests through one service.
fn callgrind(which: &str) {
    fn run<S>(mut service: S)
    where
        S: Service<Request<Body>>,
        S::Error: std::fmt::Debug,
    {
        for i in 0..100_000u32 {
            let req = request(i);
            measured_call(&mut service, req);
        }
    }
    match which {
        "rampart" => run(ours("1000000/s", RateLimitHeaders::Always)),
        "rampart_no_fields" => run(ours("1000000/s", RateLimitHeaders::OnRejection)),
        "tower_governor" => run(theirs(Duration::from_micros(1), 1_000_000)),
        "tower_governor_headers" => run(theirs_with_headers(Duration::from_micros(1), 1_000_000)),
        "bare" => run(service_fn(handler)),
        other => panic!(
            "RATELIMIT_CALLGRIND={other}: expected rampart, rampart_no_fields, tower_governor, tower_governor_headers or bare"
        ),
    }
}

fn request(i: u32) -> Request<Body> {
    let mut request = Request::get("/api/items").body(Body::empty()).unwrap();
    let ip = IpAddr::V4(Ipv4Addr::from(0xc000_0200 + (i % 1024)));
    request
        .extensions_mut()
        .insert(ClientIp::new(ip, ClientIpSource::Peer));
    request
}

async fn handler(_request: Request<Body>) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(Response::new(Body::empty()))
}

fn ours(
    quota: &str,
    headers: RateLimitHeaders,
) -> impl Service<Request<Body>, Response = Response<impl Sized>, Error = std::convert::Infallible>
{
    let quota: Quota = quota.parse().unwrap();
    RateLimitLayer::builder(MemoryStore::new())
        .policy(Policy::new("api", quota).unwrap())
        .headers(headers)
        .build()
        .unwrap()
        .layer(service_fn(handler))
}

/// tower_governor's configuration: `burst` at most, one back every
/// `interval`, keyed on the `ClientIp` extension.
fn governor_config(
    interval: Duration,
    burst: u32,
) -> GovernorConfigBuilder<ClientIpExtension, NoOpMiddleware<QuantaInstant>> {
    let mut builder = GovernorConfigBuilder::default().key_extractor(ClientIpExtension);
    builder.period(interval).burst_size(burst);
    builder
}

fn theirs(
    interval: Duration,
    burst: u32,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible> {
    let config = governor_config(interval, burst).finish().unwrap();
    GovernorLayer::new(config).layer(service_fn(handler))
}

/// tower_governor with `use_headers()`: `x-ratelimit-limit` and
/// `x-ratelimit-remaining` on admitted responses, the counterpart of our
/// `RateLimit-Policy` and `RateLimit` fields.
fn theirs_with_headers(
    interval: Duration,
    burst: u32,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible> {
    let config = governor_config(interval, burst)
        .use_headers()
        .finish()
        .unwrap();
    GovernorLayer::new(config).layer(service_fn(handler))
}

fn bench(c: &mut Criterion) {
    let mut group = Calls::group(c, "ratelimit").dropped_inside();

    let mut rampart = ours("1000000/s", RateLimitHeaders::Always);
    let mut rampart_bare = ours("1000000/s", RateLimitHeaders::OnRejection);
    let mut governor = theirs(Duration::from_micros(1), 1_000_000);
    let mut governor_headers = theirs_with_headers(Duration::from_micros(1), 1_000_000);
    assert_eq!(call_now(&mut rampart, request(0)).status(), 200);
    assert!(
        call_now(&mut governor_headers, request(0))
            .headers()
            .contains_key("x-ratelimit-remaining")
    );
    assert_eq!(call_now(&mut governor, request(0)).status(), 200);
    let mut i = 0u32;
    let mut next = move || {
        i = i.wrapping_add(1);
        request(i)
    };
    group.bench("admitted/rampart", &mut rampart, &mut next);
    // tower_governor adds no header to an admitted response: this is the
    // same work on our side.
    group.bench("admitted/rampart_no_fields", &mut rampart_bare, &mut next);
    group.bench("admitted/tower_governor", &mut governor, &mut next);

    // Their fields on admitted responses beside ours (`admitted/rampart`).
    group.bench(
        "admitted/tower_governor_headers",
        &mut governor_headers,
        &mut next,
    );

    let mut rampart = ours("1/hour", RateLimitHeaders::Always);
    let mut governor = theirs(Duration::from_secs(3600), 1);
    call_now(&mut rampart, request(0));
    call_now(&mut governor, request(0));
    assert_eq!(call_now(&mut rampart, request(0)).status(), 429);
    assert_eq!(call_now(&mut governor, request(0)).status(), 429);
    group.bench("limited/rampart", &mut rampart, || request(0));
    group.bench("limited/tower_governor", &mut governor, || request(0));
    group.finish();
    redis_group(c);
}

fn redis_group(c: &mut Criterion) {
    use rampart::ratelimit::{Demand, Key, RedisStore, Store};

    let Ok(url) = std::env::var("REDIS_URL") else {
        println!("redis group skipped: REDIS_URL is unset");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let connection = redis::aio::ConnectionManager::new(client).await.unwrap();
        RedisStore::new(connection).prefix("bench:")
    });
    let quota: Quota = "1000000/s".parse().unwrap();
    let demands: Vec<[Demand; 1]> = (0..50u32)
        .map(|i| {
            [Demand::new(
                "api",
                quota,
                Key::ip(IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i))),
            )]
        })
        .collect();
    println!(
        "compare: redis-benchmark -h <host> -p <port> -c 50 -n 200000 EVALSHA {} 1 'bench:{{api:192.0.2.0}}' '' 1 1000000 1 1 1",
        store.script_sha()
    );
    let mut group = c.benchmark_group("ratelimit_redis");
    group.throughput(criterion::Throughput::Elements(50));
    group.bench_function("50_concurrent_decisions", |b| {
        b.to_async(&runtime).iter(|| async {
            let tasks: Vec<_> = demands
                .iter()
                .map(|d| tokio::spawn(store.decide(d)))
                .collect();
            for task in tasks {
                black_box(task.await.unwrap().unwrap());
            }
        })
    });
    group.finish();
}

fn main() {
    common::main_with_count("RATELIMIT_CALLGRIND", callgrind, || {
        common::run(Criterion::default(), &[bench]);
    });
}
