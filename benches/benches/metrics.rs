//! rampart-metrics' `MetricsLayer` beside axum-prometheus's
//! `PrometheusMetricLayer`, in the same criterion run, on the same axum
//! routes (mounted with `Router::layer`, so both label by route template),
//! plus the bare router for the cost of the routes alone. Each request's
//! response body is read to the end, which is when rampart-metrics records.
//!
//! Then the cost of a scrape: encoding a registry of 10,000 series, in both
//! exposition formats.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-metrics cargo bench -p rampart-benches --bench metrics -- \
//!     --warm-up-time 1 --measurement-time 3
//! ```

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    pin::{Pin, pin},
    task::{Context, Poll, Waker},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    routing::{get, post},
};
use criterion::{BatchSize, Criterion, criterion_group};
use http::{Method, Request, Response};
use http_body::Body as _;
use rampart::metrics::prometheus_client::metrics::{counter::Counter, family::Family};
use rampart::metrics::{Format, Metrics};
use tower::Service;

fn routes() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/calls/{id}", get(|| async { "call" }))
        .route("/campaigns/{id}/run", post(|| async { "started" }))
}

const REQUESTS: [(Method, &str); 3] = [
    (Method::GET, "/health"),
    (Method::GET, "/calls/42"),
    (Method::POST, "/campaigns/7/run"),
];

fn request(i: usize) -> Request<Body> {
    let (method, uri) = &REQUESTS[i % REQUESTS.len()];
    Request::builder()
        .method(method.clone())
        .uri(*uri)
        .body(Body::empty())
        .unwrap()
}

/// Drives one request through the router and reads its body to the end.
/// The handlers never wait, so polls with a no-op waker complete them: no
/// runtime in the measurement.
#[inline(never)]
fn call_now<S>(service: &mut S, request: Request<Body>) -> usize
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = pin!(service.call(request));
    let response = match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the handler is immediate"),
    };
    let mut body = response.into_body();
    let mut bytes = 0;
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => bytes += frame.data_ref().map_or(0, |d| d.len()),
            Poll::Ready(None) => return bytes,
            Poll::Ready(Some(Err(e))) => panic!("{e}"),
            Poll::Pending => unreachable!("the body is ready"),
        }
    }
}

fn per_request(c: &mut Criterion) {
    // axum-prometheus installs a global recorder and spawns its upkeep task:
    // it needs a runtime, once per process.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let (peer_layer, peer_handle) = axum_prometheus::PrometheusMetricLayer::pair();

    let metrics = Metrics::new();
    let mut rampart = routes().layer(metrics.layer());
    let mut peer = routes().layer(peer_layer);
    let mut bare = routes();

    let mut group = c.benchmark_group("metrics/per request");
    let mut i = 0;
    let mut next = move || {
        i += 1;
        request(i)
    };
    group.bench_function("rampart", |b| {
        b.iter_batched(
            &mut next,
            |req| black_box(call_now(&mut rampart, req)),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("axum-prometheus", |b| {
        b.iter_batched(
            &mut next,
            |req| black_box(call_now(&mut peer, req)),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("bare router", |b| {
        b.iter_batched(
            &mut next,
            |req| black_box(call_now(&mut bare, req)),
            BatchSize::SmallInput,
        );
    });
    group.finish();

    // Both recorded what they saw.
    assert!(
        metrics
            .encode(Format::Text)
            .contains(r#"route="/calls/{id}""#)
    );
    assert!(peer_handle.render().contains("/calls/{id}"));
}

/// A registry of `series` counter series, as many routes times statuses
/// would make.
fn registry_with(series: usize) -> Metrics {
    let metrics = Metrics::new();
    let family = Family::<[(&'static str, String); 2], Counter>::default();
    for i in 0..series {
        let labels = [
            ("route", format!("/route/{}", i / 10)),
            ("status", format!("{}", 200 + i % 10)),
        ];
        family.get_or_create(&labels).inc_by(i as u64);
    }
    metrics
        .register("app_requests", "Requests by route and status", family)
        .unwrap();
    metrics
}

fn scrape(c: &mut Criterion) {
    let metrics = registry_with(10_000);
    let mut group = c.benchmark_group("metrics/scrape 10000 series");
    for format in [Format::Text, Format::OpenMetrics] {
        let name = match format {
            Format::OpenMetrics => "openmetrics",
            _ => "text 0.0.4",
        };
        group.bench_function(name, |b| b.iter(|| black_box(metrics.encode(format)).len()));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = per_request, scrape
}

/// `METRICS_COUNT=<rampart|axum-prometheus|bare>`: serves `COUNT_REQUESTS`
/// requests through that router and exits, for instruction counts that a
/// loaded machine does not blur:
///
/// ```sh
/// METRICS_COUNT=rampart valgrind --tool=callgrind \
///     --toggle-collect='*call_now*' /work/target-metrics/release/deps/metrics-<hash>
/// ```
///
/// "Collected" divided by `COUNT_REQUESTS` is instructions per request.
fn count(which: &str) {
    const COUNT_REQUESTS: usize = 10_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut router = match which {
        "rampart" => routes().layer(Metrics::new().layer()),
        "axum-prometheus" => routes().layer(axum_prometheus::PrometheusMetricLayer::pair().0),
        "bare" => routes(),
        other => panic!("METRICS_COUNT=<rampart|axum-prometheus|bare>, not {other}"),
    };
    let requests: Vec<_> = (0..COUNT_REQUESTS).map(request).collect();
    for req in requests {
        black_box(call_now(&mut router, req));
    }
}

fn main() {
    if let Ok(which) = std::env::var("METRICS_COUNT") {
        count(&which);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
