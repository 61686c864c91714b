//! Reconfiguration at run time under concurrent requests: every response is
//! wholly from the old policy or wholly from the new one.

use std::{convert::Infallible, sync::Arc};

use http::{Request, Response, header};
use rampart_cors::{CorsConfig, CorsLayer};
use tower::{Layer, ServiceExt, service_fn};

fn policy(origin: &str, expose: &str) -> CorsConfig {
    CorsConfig::new()
        .allow_origin(origin)
        .expose_headers([expose])
        .allow_credentials(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_are_atomic_per_request() {
    let layer = CorsLayer::new(&policy("https://a.example.com", "x-a")).unwrap();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(|_: Request<()>| async {
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(Response::new(()))
    }));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut flip = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let config = if flip {
                    policy("https://a.example.com", "x-a")
                } else {
                    policy("https://b.example.com", "x-b")
                };
                handle.reconfigure(&config).unwrap();
                flip = !flip;
                tokio::task::yield_now().await;
            }
        })
    };
    let mut tasks = Vec::new();
    for i in 0..8 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let (mut seen_a, mut seen_b) = (0, 0);
            for j in 0..500 {
                let origin = if (i + j) % 2 == 0 {
                    "https://a.example.com"
                } else {
                    "https://b.example.com"
                };
                let req = Request::get("/")
                    .header(header::ORIGIN, origin)
                    .body(())
                    .unwrap();
                let res = svc.clone().oneshot(req).await.unwrap();
                let allow = res.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
                let expose = res.headers().get(header::ACCESS_CONTROL_EXPOSE_HEADERS);
                match (allow, expose) {
                    (Some(a), Some(e)) => {
                        assert_eq!(a, origin);
                        let expected = if origin.starts_with("https://a.") {
                            "x-a"
                        } else {
                            "x-b"
                        };
                        assert_eq!(e, expected, "headers from two policies mixed");
                        if expected == "x-a" {
                            seen_a += 1
                        } else {
                            seen_b += 1
                        }
                    }
                    (None, None) => {}
                    other => panic!("half a decision: {other:?}"),
                }
            }
            (seen_a, seen_b)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        let (a, b) = t.await.unwrap();
        total.0 += a;
        total.1 += b;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.await.unwrap();
    assert!(
        total.0 > 0 && total.1 > 0,
        "both policies served: {total:?}"
    );
}

#[tokio::test]
async fn invalid_reconfiguration_keeps_the_running_policy() {
    let layer = CorsLayer::new(&policy("https://a.example.com", "x-a")).unwrap();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let err = handle
        .reconfigure(
            &CorsConfig::new()
                .allow_origins(["*"])
                .allow_credentials(true),
        )
        .unwrap_err();
    assert_eq!(err.issues().len(), 1);
    let req = Request::get("/")
        .header(header::ORIGIN, "https://a.example.com")
        .body(())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(
        res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://a.example.com"
    );
}
