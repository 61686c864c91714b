//! TenantLayer as a client sees it: status, problem+json body, and what the
//! handler gets (extension, task-local, spawned task, span).

mod common;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use rampart_tenant::{
    Limits, LookupError, Tenant, TenantConfigIssue, TenantCounter, TenantId, TenantLayer,
    TenantPrincipal, current_tenant, spawn_with_tenant,
};
use serde_json::Value;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[derive(Clone)]
struct Principal {
    org_id: Option<String>,
}

impl TenantPrincipal for Principal {
    fn tenant_id(&self) -> Option<&str> {
        self.org_id.as_deref()
    }
}

/// Answers with what the handler saw: `extension|task-local|spawned`.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let extension = request
        .extensions()
        .get::<Tenant>()
        .map(|t| t.id().to_string())
        .unwrap_or_default();
    let local = current_tenant()
        .map(|t| t.id().to_string())
        .unwrap_or_default();
    let spawned = spawn_with_tenant(async { current_tenant().map(|t| t.id().to_string()) })
        .await
        .unwrap()
        .unwrap_or_default();
    let plain = tokio::spawn(async { current_tenant().is_some() })
        .await
        .unwrap();
    assert!(!plain, "a plain spawn does not inherit the tenant");
    Ok(Response::new(Full::new(Bytes::from(format!(
        "{extension}|{local}|{spawned}"
    )))))
}

fn service(
    layer: TenantLayer,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<rampart_core::ResponseBody<Full<Bytes>>>,
    Error = Infallible,
    Future: Send,
> + Clone {
    ServiceBuilder::new().layer(layer).service(service_fn(echo))
}

async fn send(
    service: &(
         impl Service<
        Request<Full<Bytes>>,
        Response = Response<rampart_core::ResponseBody<Full<Bytes>>>,
        Error = Infallible,
    > + Clone
     ),
    request: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, String) {
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

fn with_principal(mut request: Request<Full<Bytes>>, org: Option<&str>) -> Request<Full<Bytes>> {
    request.extensions_mut().insert(Principal {
        org_id: org.map(str::to_owned),
    });
    request
}

fn with_peer(mut request: Request<Full<Bytes>>, peer: &str) -> Request<Full<Bytes>> {
    request
        .extensions_mut()
        .insert(peer.parse::<SocketAddr>().unwrap());
    request
}

fn problem(status: StatusCode, headers: &http::HeaderMap, body: &str) -> Value {
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{status}: {body}"
    );
    let value: Value = serde_json::from_str(body).unwrap();
    assert_eq!(value["status"], status.as_u16());
    value
}

fn full_layer() -> TenantLayer {
    TenantLayer::builder()
        .from_principal::<Principal>()
        .from_subdomain("app.example.com")
        .from_header(
            "x-tenant-id",
            "10.0.0.0/8"
                .parse::<rampart_core::TrustedProxies>()
                .unwrap(),
        )
        .from_path_prefix("/t/")
        .build()
        .unwrap()
}

#[tokio::test]
async fn principal_reaches_extension_task_local_and_spawned_tasks() {
    let service = service(full_layer());
    let (status, _, body) = send(&service, with_principal(get("/calls"), Some("org-a"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "org-a|org-a|org-a");
}

#[tokio::test]
async fn first_source_wins() {
    let service = service(full_layer());
    // The principal says org-a, the path says org-b: the principal wins.
    let request = with_principal(get("/t/org-b/calls"), Some("org-a"));
    assert_eq!(send(&service, request).await.2, "org-a|org-a|org-a");
    // A principal without an organization: the next source is asked.
    let request = with_principal(get("/t/org-b/calls"), None);
    assert_eq!(send(&service, request).await.2, "org-b|org-b|org-b");
    // Subdomain before header before path.
    let request = Request::get("/t/org-c/x")
        .header("host", "acme.app.example.com")
        .header("x-tenant-id", "from-header")
        .body(Full::default())
        .unwrap();
    assert_eq!(
        send(&service, with_peer(request, "10.0.0.5:4000")).await.2,
        "acme|acme|acme"
    );
    let request = Request::get("/t/org-c/x")
        .header("x-tenant-id", "from-header")
        .body(Full::default())
        .unwrap();
    let (_, _, body) = send(&service, with_peer(request, "10.0.0.5:4000")).await;
    assert_eq!(body, "from-header|from-header|from-header");
}

#[tokio::test]
async fn spoofed_header_from_an_untrusted_peer_is_ignored() {
    let layer = full_layer();
    let stats = layer.stats();
    let service = service(layer);
    let spoofed = || {
        Request::get("/calls")
            .header("x-tenant-id", "victim")
            .body(Full::default())
            .unwrap()
    };
    // From the internet: ignored, so no tenant at all: 401.
    let (status, headers, body) = send(&service, with_peer(spoofed(), "203.0.113.9:5555")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    problem(status, &headers, &body);
    // No peer address recorded: not trusted either.
    let (status, _, _) = send(&service, spoofed()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // With a principal, the principal's tenant, not the header's.
    let request = with_principal(with_peer(spoofed(), "203.0.113.9:5555"), Some("org-a"));
    assert_eq!(send(&service, request).await.2, "org-a|org-a|org-a");
    // A trusted proxy is believed.
    let (status, _, body) = send(&service, with_peer(spoofed(), "10.9.9.9:1")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "victim|victim|victim")
    );
    // Two: with a principal the header source was never asked.
    assert_eq!(stats.get(TenantCounter::UntrustedHeader), 2);
    assert_eq!(stats.get(TenantCounter::FromHeader), 1);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn spoofed_header_is_ignored_through_a_real_socket() {
    use axum::{Router, routing::get as route_get};

    let app = Router::new()
        .route(
            "/whoami",
            route_get(|tenant: Option<Tenant>| async move {
                tenant.map_or_else(|| "none".to_owned(), |t| t.id().to_string())
            }),
        )
        .layer(
            TenantLayer::builder()
                .from_header(
                    "x-tenant-id",
                    "10.0.0.0/8"
                        .parse::<rampart_core::TrustedProxies>()
                        .unwrap(),
                )
                .optional()
                .build()
                .unwrap(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    // The peer is 127.0.0.1, which is not a trusted proxy.
    let body = raw_get(addr, "/whoami", &[("x-tenant-id", "victim")]).await;
    assert!(body.ends_with("none"), "{body}");
    server.abort();
}

/// The `Tenant` extractor: a route that needs a tenant answers 401
/// problem+json where the optional layer found none, and gets the id where it
/// did; `Option<Tenant>` is `None` instead of a rejection.
#[cfg(feature = "axum")]
#[tokio::test]
async fn a_handler_that_needs_a_tenant_answers_401_without_one() {
    use axum::{Router, body::Body, routing::get as route_get};

    let app = Router::new()
        .route(
            "/t/{tenant}/usage",
            route_get(|tenant: Tenant| async move { tenant.id().to_string() }),
        )
        .route(
            "/usage",
            route_get(|tenant: Tenant| async move { tenant.id().to_string() }),
        )
        .route(
            "/maybe",
            route_get(|tenant: Option<Tenant>| async move {
                tenant.map_or_else(|| "none".to_owned(), |t| t.id().to_string())
            }),
        )
        .layer(
            TenantLayer::builder()
                .from_path_prefix("/t/")
                .optional()
                .build()
                .unwrap(),
        );
    let call = |path: &'static str| {
        let app = app.clone();
        async move {
            let response = app
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            (
                parts.status,
                parts.headers,
                String::from_utf8(body.to_vec()).unwrap(),
            )
        }
    };

    let (status, _, body) = call("/t/acme/usage").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "acme"));

    let (status, headers, body) = call("/usage").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let value = problem(status, &headers, &body);
    assert_eq!(value["title"], "Tenant required");
    assert_eq!(
        value["detail"],
        "this request must be made on behalf of an organization"
    );

    let (status, _, body) = call("/maybe").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "none"));
}

#[cfg(feature = "axum")]
/// A minimal HTTP/1.1 GET over a fresh connection; the whole response.
async fn raw_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn no_tenant_is_401_unless_optional() {
    let (status, headers, body) = send(&service(full_layer()), get("/calls")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let value = problem(status, &headers, &body);
    assert_eq!(value["title"], "Tenant required");

    let layer = TenantLayer::builder()
        .from_principal::<Principal>()
        .optional()
        .build()
        .unwrap();
    let stats = layer.stats();
    let (status, _, body) = send(&service(layer), get("/health")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "||"));
    assert_eq!(stats.get(TenantCounter::Anonymous), 1);
}

#[tokio::test]
async fn malformed_ids_are_400_never_500() {
    let service = service(full_layer());
    for request in [
        get("/t/a%20b/calls"),
        get("/t//calls"),
        get(&format!("/t/{}/x", "a".repeat(65))),
        with_principal(get("/x"), Some("not valid")),
        with_principal(get("/x"), Some("")),
        with_peer(
            Request::get("/x")
                .header("x-tenant-id", "a/b")
                .body(Full::default())
                .unwrap(),
            "10.0.0.1:1",
        ),
        Request::get("/x")
            .header("host", "a_b!.app.example.com")
            .body(Full::default())
            .unwrap(),
    ] {
        let uri = request.uri().clone();
        let (status, headers, body) = send(&service, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let value = problem(status, &headers, &body);
        assert_eq!(value["title"], "Invalid tenant");
    }
}

#[tokio::test]
async fn lookup_gives_404_for_unknown_and_is_cached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let layer = TenantLayer::builder()
        .from_path_prefix("/t/")
        .lookup(move |id: TenantId| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok::<_, LookupError>(
                    (id.as_str() == "known").then(|| Limits::new().max_concurrent(3)),
                )
            }
        })
        .build()
        .unwrap();
    let stats = layer.stats();
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|request: Request<Full<Bytes>>| async move {
            let tenant = request.extensions().get::<Tenant>().unwrap();
            let max = tenant.limits().get_max_concurrent().unwrap();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(max.to_string()))))
        }));
    for _ in 0..5 {
        let (status, _, body) = send(&service, get("/t/known/x")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "3"));
        let (status, headers, body) = send(&service, get("/t/stranger/x")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let value = problem(status, &headers, &body);
        assert_eq!(value["tenant"], "stranger");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one lookup per tenant, then the cache"
    );
    assert_eq!(stats.get(TenantCounter::Unknown), 5);
    layer.invalidate(&"known".parse().unwrap());
    send(&service, get("/t/known/x")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn failed_lookup_is_503_and_not_cached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let layer = TenantLayer::builder()
        .from_path_prefix("/t/")
        .lookup(move |_id: TenantId| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(LookupError::new("database is down"))
                } else {
                    Ok(Some(Limits::new()))
                }
            }
        })
        .build()
        .unwrap();
    let service = service(layer);
    let (status, headers, body) = send(&service, get("/t/acme/x")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1", "a client may retry at once");
    problem(status, &headers, &body);
    let (status, _, body) = send(&service, get("/t/acme/x")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "acme|acme|acme"));
}

#[tokio::test]
async fn the_span_carries_the_tenant() {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let service = ServiceBuilder::new()
        .layer(full_layer())
        .service(service_fn(|_request: Request<Full<Bytes>>| async {
            tokio::task::yield_now().await;
            tracing::info!("placing a call");
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }));
    let request = with_principal(get("/calls"), Some("org-a"));
    service.oneshot(request).await.unwrap();
    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("tenant{tenant=org-a}"), "{log}");
    assert!(log.contains("placing a call"), "{log}");
}

#[tokio::test]
async fn concurrent_requests_keep_their_own_tenant() {
    let service = ServiceBuilder::new()
        .layer(full_layer())
        .service(service_fn(|request: Request<Full<Bytes>>| async move {
            let own = request.extensions().get::<Tenant>().unwrap().id().clone();
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                assert_eq!(current_tenant().unwrap().id(), &own);
            }
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let service = service.clone();
        tasks.spawn(async move {
            let org = format!("org-{}", i % 7);
            let response = service
                .oneshot(with_principal(get("/x"), Some(&org)))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
}

#[test]
fn configuration_errors_name_the_value() {
    let build = |b: rampart_tenant::TenantLayerBuilder| b.build().unwrap_err().issues().to_vec();
    assert_eq!(
        build(TenantLayer::builder()),
        [TenantConfigIssue::NoSources]
    );
    assert_eq!(
        build(TenantLayer::builder().from_subdomain("not a domain")),
        [TenantConfigIssue::InvalidBaseDomain("not a domain".into())]
    );
    assert_eq!(
        build(
            TenantLayer::builder().from_header(
                "bad header",
                "10.0.0.0/8"
                    .parse::<rampart_core::TrustedProxies>()
                    .unwrap()
            )
        ),
        [TenantConfigIssue::InvalidHeaderName("bad header".into())]
    );
    assert_eq!(
        build(
            TenantLayer::builder().from_header("x-tenant-id", rampart_core::TrustedProxies::none())
        ),
        [TenantConfigIssue::NoTrustedProxies("x-tenant-id".into())]
    );
    assert_eq!(
        build(TenantLayer::builder().from_path_prefix("t")),
        [TenantConfigIssue::InvalidPathPrefix("t".into())]
    );
    assert_eq!(
        build(
            TenantLayer::builder()
                .from_path_prefix("/t/")
                .cache(0, Duration::from_secs(1))
        ),
        [TenantConfigIssue::EmptyCache]
    );
    assert!(
        TenantConfigIssue::InvalidBaseDomain("x y".into())
            .to_string()
            .contains("\"x y\"")
    );
}

#[test]
fn configuration_errors_list_every_problem() {
    let err = TenantLayer::builder()
        .from_subdomain("not a domain")
        .from_header("x-tenant-id", rampart_core::TrustedProxies::none())
        .from_path_prefix("t")
        .cache(10, Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        err.issues(),
        [
            TenantConfigIssue::InvalidBaseDomain("not a domain".into()),
            TenantConfigIssue::NoTrustedProxies("x-tenant-id".into()),
            TenantConfigIssue::InvalidPathPrefix("t".into()),
            TenantConfigIssue::EmptyCache,
        ]
    );
    let message = err.to_string();
    assert!(message.contains("(4 problems)"), "{message}");
    for value in [
        "\"not a domain\"",
        "\"x-tenant-id\"",
        "\"t\"",
        "time to live",
    ] {
        assert!(message.contains(value), "{value} in {message}");
    }
}
