//! The layer through `oneshot`: what each way of ending a request records.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use rampart_metrics::{Format, Metrics, RouteLabel, StatusLabels};
use tower::{Layer, ServiceExt, service_fn};

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

async fn status(metrics: &Metrics, code: u16) {
    let service = metrics
        .layer()
        .layer(service_fn(move |_req: Request<()>| async move {
            let mut response = Response::new(Full::new(Bytes::from_static(b"x")));
            *response.status_mut() = StatusCode::from_u16(code).unwrap();
            Ok::<_, Infallible>(response)
        }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    response.into_body().collect().await.unwrap();
}

#[tokio::test]
async fn status_as_class() {
    let metrics = Metrics::builder()
        .status_labels(StatusLabels::Class)
        .build()
        .unwrap();
    for code in [200, 201, 204, 404, 429, 500, 503] {
        status(&metrics, code).await;
    }
    let text = metrics.encode(Format::Text);
    let count = |class: &str| {
        sample(
            &text,
            &format!(r#"http_requests_total{{method="GET",route="unmatched",status="{class}"}}"#),
        )
    };
    assert_eq!(count("2xx"), Some(3.0), "{text}");
    assert_eq!(count("4xx"), Some(2.0));
    assert_eq!(count("5xx"), Some(2.0));
    assert_eq!(text.matches("http_requests_total{").count(), 3);
}

#[tokio::test]
async fn status_as_code() {
    let metrics = Metrics::new();
    for code in [200, 200, 429, 599] {
        status(&metrics, code).await;
    }
    let text = metrics.encode(Format::Text);
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="unmatched",status="200"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="unmatched",status="429"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="unmatched",status="599"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_route_label_on_the_response_is_used() {
    let metrics = Metrics::new();
    let service = metrics.layer().layer(service_fn(|_req: Request<()>| async {
        let mut response = Response::new(Full::new(Bytes::new()));
        response
            .extensions_mut()
            .insert(RouteLabel::new(String::from("/reports/{id}")));
        Ok::<_, Infallible>(response)
    }));
    drop(service.clone().oneshot(Request::new(())).await.unwrap());
    // The request's label wins over the response's.
    let mut request = Request::new(());
    request
        .extensions_mut()
        .insert(RouteLabel::from_static("/first"));
    drop(service.oneshot(request).await.unwrap());
    let text = metrics.encode(Format::Text);
    assert!(
        text.contains(r#"route="/reports/{id}",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/first",status="200"} 1"#), "{text}");
}

#[tokio::test]
async fn an_inner_error_is_a_500_and_leaves_nothing_in_flight() {
    let metrics = Metrics::new();
    let service = metrics.layer().layer(service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>("store down")
    }));
    assert!(service.oneshot(Request::new(())).await.is_err());
    let text = metrics.encode(Format::Text);
    assert!(text.contains(r#"status="500"} 1"#), "{text}");
    assert_eq!(sample(&text, "http_requests_in_flight"), Some(0.0));
}

#[tokio::test]
async fn a_future_dropped_before_the_response_is_a_499() {
    let metrics = Metrics::new();
    let service = metrics.layer().layer(service_fn(|_req: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let future = service.oneshot(Request::new(()));
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(10), future).await;
    assert!(timed_out.is_err());
    let text = metrics.encode(Format::Text);
    assert!(text.contains(r#"status="499"} 1"#), "{text}");
    assert_eq!(sample(&text, "http_requests_in_flight"), Some(0.0));
}

/// A body that fails after one frame.
struct Failing(u8);

impl Body for Failing {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0 += 1;
        Poll::Ready(Some(match self.0 {
            1 => Ok(Frame::data(Bytes::from_static(b"abc"))),
            _ => Err("disk gone"),
        }))
    }
}

#[tokio::test]
async fn a_failing_body_ends_the_request_at_its_error() {
    let metrics = Metrics::builder().body_sizes(true).build().unwrap();
    let service = metrics.layer().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Failing(0)))
    }));
    let mut body = service.oneshot(Request::new(())).await.unwrap().into_body();
    assert!(body.frame().await.unwrap().is_ok());
    assert!(body.frame().await.unwrap().is_err());
    // Recorded at the error, before the body is dropped.
    let text = metrics.encode(Format::Text);
    assert_eq!(
        sample(&text, "http_requests_in_flight"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_response_size_bytes_sum{method="GET",route="unmatched"}"#
        ),
        Some(3.0)
    );
    drop(body);
    let text = metrics.encode(Format::Text);
    assert!(text.contains(r#"status="200"} 1"#), "counted once: {text}");
}

#[tokio::test]
async fn request_sizes_come_from_content_length() {
    let metrics = Metrics::builder().body_sizes(true).build().unwrap();
    let service = metrics.layer().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    }));
    for length in [
        Some("100"),
        Some("not a number"),
        None,
        Some("18446744073709551616"),
    ] {
        let mut request = Request::post("/upload");
        if let Some(length) = length {
            request = request.header("content-length", length);
        }
        let response = service
            .clone()
            .oneshot(request.body(()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let text = metrics.encode(Format::Text);
    // Only the readable length is observed; every response is.
    assert_eq!(
        sample(
            &text,
            r#"http_request_size_bytes_count{method="POST",route="unmatched"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_size_bytes_sum{method="POST",route="unmatched"}"#
        ),
        Some(100.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_response_size_bytes_count{method="POST",route="unmatched"}"#
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_response_size_bytes_sum{method="POST",route="unmatched"}"#
        ),
        Some(20.0)
    );
}

#[test]
fn guards_from_settings() {
    let metrics = Metrics::new();
    let settings = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert!(metrics.service().guard_from(settings(&[])).is_ok());
    assert!(
        metrics
            .service()
            .guard_from(settings(&[("METRICS_ALLOWED_IPS", "  ")]))
            .is_ok()
    );
    let err = metrics
        .service()
        .guard_from(settings(&[("METRICS_ALLOWED_IPS", "10.0.0.0/8,nope")]))
        .unwrap_err();
    assert!(err.to_string().contains("nope"));
    let err = metrics
        .service()
        .guard_from(settings(&[("METRICS_BASIC_AUTH_PASSWORD", "x")]))
        .unwrap_err();
    assert!(matches!(
        err,
        rampart_metrics::GuardError::InvalidUser { .. }
    ));
    assert!(
        metrics
            .service()
            .guard_from(settings(&[
                ("METRICS_ALLOWED_IPS", "127.0.0.1"),
                ("METRICS_BASIC_AUTH_USER", "prometheus"),
                ("METRICS_BASIC_AUTH_PASSWORD", "s3cret"),
            ]))
            .is_ok()
    );
}

/// A 429 made by the rate limiter inside is counted like any response, and
/// the limiter's own counters appear in the same scrape.
#[cfg(feature = "ratelimit")]
#[tokio::test]
async fn rate_limit_rejections_are_counted_twice_over() {
    use rampart_core::{ClientIp, ClientIpSource};
    use rampart_ratelimit::{MemoryStore, Policy, RateLimitLayer};
    use tower::ServiceBuilder;

    let metrics = Metrics::new();
    let limiter = RateLimitLayer::builder(MemoryStore::new())
        .policy(Policy::parse("api", "2/minute").unwrap())
        .build()
        .unwrap();
    metrics.register_ratelimit(limiter.stats()).unwrap();
    let service = ServiceBuilder::new()
        .layer(metrics.layer())
        .layer(limiter)
        .service(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
    for _ in 0..3 {
        let mut request = Request::get("/api/calls").body(()).unwrap();
        request
            .extensions_mut()
            .insert(RouteLabel::from_static("/api/calls"));
        request.extensions_mut().insert(ClientIp::new(
            "192.0.2.1".parse().unwrap(),
            ClientIpSource::Peer,
        ));
        let response = service.clone().oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let text = metrics.encode(Format::Text);
    let series = |status: &str| {
        sample(
            &text,
            &format!(r#"http_requests_total{{method="GET",route="/api/calls",status="{status}"}}"#),
        )
    };
    assert_eq!(series("200"), Some(2.0), "{text}");
    assert_eq!(series("429"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"rampart_ratelimit_decisions_total{policy="api",outcome="limited"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"rampart_ratelimit_decisions_total{policy="api",outcome="admitted"}"#
        ),
        Some(2.0)
    );
}
