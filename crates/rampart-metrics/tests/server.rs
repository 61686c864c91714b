//! Over a real socket: axum::serve on 127.0.0.1, a raw HTTP/1.1 client.
//! What a scraper and a client that hangs up see.

#![cfg(feature = "axum")]

use std::{
    convert::Infallible,
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{Router, body::Body, routing::get};
use bytes::Bytes;
use http::header;
use rampart_metrics::{BasicAuth, Format, Metrics};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A body that never ends: 16 KiB every 10 ms.
fn endless() -> Body {
    let chunks = futures_stream(|_| Some(Duration::from_millis(10)));
    Body::from_stream(chunks)
}

/// Three chunks 200 ms apart, then the end.
fn slow() -> Body {
    Body::from_stream(futures_stream(|i| {
        (i < 3).then_some(Duration::from_millis(200))
    }))
}

/// A stream of 16 KiB chunks, each after the delay `next(i)` gives, until `None`.
fn futures_stream(
    next: impl Fn(usize) -> Option<Duration> + Send + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(1);
    tokio::spawn(async move {
        let mut i = 0;
        while let Some(delay) = next(i) {
            tokio::time::sleep(delay).await;
            if tx
                .send(Ok(Bytes::from(vec![b'x'; 16 * 1024])))
                .await
                .is_err()
            {
                return;
            }
            i += 1;
        }
    });
    tokio_stream(rx)
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn app(metrics: &Metrics) -> Router {
    let guarded = metrics
        .service()
        .basic_auth(BasicAuth::new("prometheus", "s3cret").unwrap());
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/stream", get(|| async { endless() }))
        .route("/slow", get(|| async { slow() }))
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(metrics.layer())
        .route_service("/metrics", metrics.service())
        .route_service("/metrics/auth", guarded)
        .route_service(
            "/metrics/private",
            metrics.service().allow_ips("10.0.0.0/8".parse().unwrap()),
        )
        .route_service(
            "/metrics/local",
            metrics
                .service()
                .allow_ips("127.0.0.1, ::1".parse().unwrap()),
        )
}

async fn serve(metrics: &Metrics) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(metrics).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on its own connection, read to the end.
async fn send(addr: SocketAddr, request_head: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request_head).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

async fn get_with(addr: SocketAddr, path: &str, extra: &[u8]) -> Reply {
    let mut head =
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n").into_bytes();
    head.extend_from_slice(extra);
    head.extend_from_slice(b"\r\n");
    send(addr, &head).await
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.split(' ').next().unwrap().parse().unwrap())
}

/// Polls the registry until `done` holds, for at most 15 s (a loaded CI machine).
async fn eventually(metrics: &Metrics, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let text = metrics.encode(Format::Text);
        if done(&text) || start.elapsed() > Duration::from_secs(15) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_body_ends_the_request() {
    let metrics = Metrics::new();
    let addr = serve(&metrics).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0; 64 * 1024];
    let n = stream.read(&mut buffer).await.unwrap();
    assert!(buffer[..n].starts_with(b"HTTP/1.1 200 OK"));
    // Headers sent, body still flowing: the request is in flight, not counted.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = metrics.encode(Format::Text);
    assert_eq!(
        sample(&text, "http_requests_in_flight"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/stream",status="200"}"#
        ),
        None
    );
    drop(stream);

    let series = r#"http_request_duration_seconds_count{method="GET",route="/stream"}"#;
    let text = eventually(&metrics, |t| sample(t, series) == Some(1.0)).await;
    assert_eq!(sample(&text, series), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "http_requests_in_flight"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/stream",status="200"}"#
        ),
        Some(1.0)
    );
    let seconds = sample(
        &text,
        r#"http_request_duration_seconds_sum{method="GET",route="/stream"}"#,
    )
    .unwrap();
    assert!(
        seconds >= 0.3,
        "the duration ran until the body was dropped: {seconds}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duration_lasts_until_the_body_ends() {
    let metrics = Metrics::new();
    let addr = serve(&metrics).await;
    let reply = get_with(addr, "/slow", b"").await;
    assert_eq!(reply.status, 200);
    let series = r#"http_request_duration_seconds_sum{method="GET",route="/slow"}"#;
    let text = eventually(&metrics, |t| sample(t, series).is_some()).await;
    let seconds = sample(&text, series).unwrap();
    // Headers leave at once; the three chunks take 600 ms.
    assert!(seconds >= 0.55, "{seconds}\n{text}");
    assert_eq!(sample(&text, "http_requests_in_flight"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_before_the_response_is_counted_as_499() {
    let metrics = Metrics::new();
    let addr = serve(&metrics).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /hang HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let text = eventually(&metrics, |t| {
        sample(t, "http_requests_in_flight") == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(&text, "http_requests_in_flight"),
        Some(1.0),
        "{text}"
    );
    drop(stream);
    let series = r#"http_requests_total{method="GET",route="/hang",status="499"}"#;
    let text = eventually(&metrics, |t| sample(t, series).is_some()).await;
    assert_eq!(sample(&text, series), Some(1.0), "{text}");
    assert_eq!(sample(&text, "http_requests_in_flight"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_negotiate_and_never_fail_on_accept() {
    let metrics = Metrics::new();
    let addr = serve(&metrics).await;
    assert_eq!(get_with(addr, "/users/7", b"").await.status, 200);

    let reply = get_with(
        addr,
        "/metrics",
        b"Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2\r\n",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some(Format::OpenMetrics.content_type())
    );
    assert_eq!(reply.header("vary"), Some("Accept"));
    assert!(reply.text().ends_with("# EOF\n"));
    assert!(
        reply
            .text()
            .contains(r#"http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#)
    );

    let long = format!("Accept: {}\r\n", "text/plain;q=0.1,".repeat(2000));
    let bad: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"Accept: \r\n".to_vec(),
        b"Accept: garbage\r\n".to_vec(),
        b"Accept: \xff\xfe/\x80; q=\xff\r\n".to_vec(),
        b"Accept: application/openmetrics-text;q=NaN\r\n".to_vec(),
        b"Accept: application/openmetrics-text;q=-1\r\n".to_vec(),
        b"Accept: application/openmetrics-text;version=9.9.9\r\n".to_vec(),
        b"Accept: ;;;,,,===\r\n".to_vec(),
        b"Accept: */*\r\nAccept: text/plain\r\n".to_vec(),
        b"Accept: application/json\r\n".to_vec(),
        long.into_bytes(),
    ];
    for accept in bad {
        let reply = get_with(addr, "/metrics", &accept).await;
        let shown = String::from_utf8_lossy(&accept);
        assert_eq!(reply.status, 200, "{shown}");
        assert_eq!(
            reply.header("content-type"),
            Some(Format::Text.content_type()),
            "{shown}"
        );
        assert!(
            reply.text().contains("# TYPE http_requests_total counter"),
            "{shown}"
        );
        assert!(!reply.text().contains("# EOF"), "{shown}");
    }

    // Several Accept lines are one list.
    let reply = get_with(
        addr,
        "/metrics",
        b"Accept: application/openmetrics-text;q=0.1\r\nAccept: text/plain\r\n",
    )
    .await;
    assert_eq!(
        reply.header("content-type"),
        Some(Format::Text.content_type())
    );
    // A second Accept line asking for OpenMetrics is heard.
    let reply = get_with(
        addr,
        "/metrics",
        b"Accept: text/html\r\nAccept: application/openmetrics-text\r\n",
    )
    .await;
    assert_eq!(
        reply.header("content-type"),
        Some(Format::OpenMetrics.content_type())
    );

    let reply = send(
        addr,
        b"HEAD /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());

    let reply = send(
        addr,
        b"POST /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_refuse_with_problem_json() {
    use base64::{Engine as _, engine::general_purpose::STANDARD};

    let metrics = Metrics::new();
    let addr = serve(&metrics).await;

    let wrong = format!(
        "Authorization: Basic {}\r\n",
        STANDARD.encode("prometheus:wrong")
    );
    let odd: &[&[u8]] = &[
        b"",
        wrong.as_bytes(),
        b"Authorization: Basic\r\n",
        b"Authorization: Bearer abc\r\n",
        b"Authorization: Basic \xff\xff\r\n",
    ];
    for authorization in odd {
        let reply = get_with(addr, "/metrics/auth", authorization).await;
        assert_eq!(
            reply.status,
            401,
            "{}",
            String::from_utf8_lossy(authorization)
        );
        assert_eq!(
            reply.header("www-authenticate"),
            Some(r#"Basic realm="metrics", charset="UTF-8""#)
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
        let problem: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(problem["status"], 401);
        assert!(!reply.text().contains("http_requests"));
    }
    let right = format!(
        "Authorization: Basic {}\r\n",
        STANDARD.encode("prometheus:s3cret")
    );
    let reply = get_with(addr, "/metrics/auth", right.as_bytes()).await;
    assert_eq!(reply.status, 200);

    let reply = get_with(addr, "/metrics/private", b"").await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    let problem: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(problem["status"], 403);
    // A forged X-Forwarded-For changes nothing: no ClientIpLayer trusts it here.
    let reply = get_with(addr, "/metrics/private", b"X-Forwarded-For: 10.0.0.1\r\n").await;
    assert_eq!(reply.status, 403);

    let reply = get_with(addr, "/metrics/local", b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header(header::CONTENT_TYPE.as_str()),
        Some(Format::Text.content_type())
    );
}

/// The demo's arrangement: the metrics layer outside `ClientIpLayer`, and
/// `/metrics` among the routes, so that the allow-list sees the client a
/// trusted proxy forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_allow_list_reads_the_forwarded_client() {
    use rampart_core::{ClientIpLayer, TrustedProxies};
    use tower::ServiceBuilder;

    let metrics = Metrics::new();
    let endpoint = metrics.service().allow_ips("10.0.0.0/8".parse().unwrap());
    let layers = ServiceBuilder::new()
        .layer(metrics.layer())
        .layer(ClientIpLayer::new().trusted_proxies(TrustedProxies::loopback()));
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/metrics", endpoint)
        .layer(layers);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let reply = get_with(addr, "/metrics", b"X-Forwarded-For: 10.1.2.3\r\n").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = get_with(addr, "/metrics", b"X-Forwarded-For: 192.0.2.1\r\n").await;
    assert_eq!(reply.status, 403);
    // The loopback proxy itself is not in the list.
    let reply = get_with(addr, "/metrics", b"").await;
    assert_eq!(reply.status, 403);

    // Scrapes and their refusals are counted under their own route.
    let text = metrics.encode(Format::Text);
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/metrics",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/metrics",status="403"} 2"#),
        "{text}"
    );
}
