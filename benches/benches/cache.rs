//! rampart-cache's hit path beside `axum-response-cache` and
//! `http-cache-tower-server` (moka manager), in the same criterion run, on
//! the same response: `GET /campaigns?page=1`, a 1 KiB JSON body with
//! `Cache-Control: max-age=60`, already cached. Each iteration sends one
//! request through a clone of the service and reads the whole body, on a
//! current-thread Tokio runtime (the peers answer through boxed futures
//! that expect one).
//!
//! rampart-cache runs with its memory store, its key holding the tenant
//! (read from the extensions, as with rampart-tenant) and the principal on
//! a per-principal route; the peers key on method and URI only. So rampart
//! does more per hit (scope, `Cache-Status`, `Age`, `ETag`), not less.
//!
//! ```text
//! cargo bench -p rampart-benches --bench cache
//! ```

mod common;

use std::{convert::Infallible, time::Duration};

use axum::body::Body;
use criterion::Criterion;
use http::{Request, Response};
use http_body_util::BodyExt;
use rampart::cache::{CacheConfig, CacheLayer, CacheRoute, CacheScope, MemoryCacheStore};
use tower::{Layer, Service, ServiceExt, service_fn};

#[derive(Clone)]
struct Principal(&'static str);
#[derive(Clone)]
struct TenantId(&'static str);

fn body() -> String {
    let items: Vec<String> = (0..16)
        .map(|i| format!("{{\"id\":{i},\"name\":\"Campaign number {i}\",\"status\":\"active\"}}"))
        .collect();
    format!("[{}]", items.join(","))
}

async fn handler(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let mut response = Response::new(Body::from(body()));
    let headers = response.headers_mut();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("cache-control", "max-age=60".parse().unwrap());
    Ok(response)
}

fn request() -> Request<Body> {
    let mut request = Request::get("/campaigns?page=1")
        .header("authorization", "Bearer token")
        .body(Body::empty())
        .unwrap();
    request.extensions_mut().insert(TenantId("acme"));
    request.extensions_mut().insert(Principal("user-1"));
    request
}

fn rampart_layer() -> CacheLayer {
    CacheLayer::builder(MemoryCacheStore::new(64 << 20))
        .config(
            CacheConfig::new().route(
                CacheRoute::new("campaigns", "/campaigns")
                    .scope(CacheScope::Principal)
                    .ttl(Duration::from_secs(60)),
            ),
        )
        .tenant(|e| e.get::<TenantId>().map(|t| t.0.into()))
        .principal(|e| e.get::<Principal>().map(|p| p.0.into()))
        .build()
        .expect("valid configuration")
}

/// One request through a clone of `service`, its body read to the end.
async fn hit<S, B>(service: &S) -> usize
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request()).await.unwrap();
    assert!(response.status().is_success());
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .len()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rampart = rampart_layer().layer(service_fn(handler));
    let response_cache = axum_response_cache::CacheLayer::with_lifespan(Duration::from_secs(60))
        .layer(service_fn(handler));
    let tower_server =
        http_cache_tower_server::ServerCacheLayer::new(http_cache::MokaManager::default())
            .layer(service_fn(handler));
    // Fill each cache, and check that the second request is a hit.
    runtime.block_on(async {
        let expected = body().len();
        assert_eq!(hit(&rampart).await, expected);
        assert_eq!(hit(&response_cache).await, expected);
        assert_eq!(hit(&tower_server).await, expected);
        let again = rampart.clone().oneshot(request()).await.unwrap();
        assert!(
            again.headers()["cache-status"]
                .to_str()
                .unwrap()
                .contains("hit")
        );
    });

    let mut group = c.benchmark_group("cache/hit");
    group.bench_function("rampart", |b| b.to_async(&runtime).iter(|| hit(&rampart)));
    group.bench_function("axum-response-cache", |b| {
        b.to_async(&runtime).iter(|| hit(&response_cache))
    });
    group.bench_function("http-cache-tower-server", |b| {
        b.to_async(&runtime).iter(|| hit(&tower_server))
    });
    group.finish();
}

/// `CACHE_COUNT=<side>/<n>` (side `rampart`, `axum-response-cache` or
/// `http-cache-tower-server`): fills that cache, then serves `n` hits and
/// exits, for instruction counts that a loaded machine does not blur. The
/// difference between two counts (`n` = 10000 and 0) divided by 10,000 is
/// instructions per hit, request building and runtime included (the same
/// for every side):
///
/// ```sh
/// CACHE_COUNT=rampart/10000 valgrind --tool=callgrind target/release/deps/cache-<hash>
/// ```
fn count(which: &str) {
    let (side, n) = which.split_once('/').expect("CACHE_COUNT=<side>/<n>");
    let n: usize = n.parse().expect("a number of hits");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match side {
            "rampart" => hits(&rampart_layer().layer(service_fn(handler)), n).await,
            "axum-response-cache" => {
                let layer = axum_response_cache::CacheLayer::with_lifespan(Duration::from_secs(60));
                hits(&layer.layer(service_fn(handler)), n).await;
            }
            "http-cache-tower-server" => {
                let layer = http_cache_tower_server::ServerCacheLayer::new(
                    http_cache::MokaManager::default(),
                );
                hits(&layer.layer(service_fn(handler)), n).await;
            }
            other => panic!("unknown side {other}"),
        }
    });
}

async fn hits<S, B>(service: &S, n: usize)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    hit(service).await;
    for _ in 0..n {
        std::hint::black_box(hit(service).await);
    }
}

fn main() {
    common::main_with_count("CACHE_COUNT", count, || {
        common::run(common::short_runs(Duration::from_secs(3)), &[bench]);
    });
}
