//! What a client sees: status and headers of preflights and actual requests.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use rampart_cors::{CorsConfig, CorsLayer, CorsService};
use tower::{Layer, ServiceExt, service_fn};

const APP: &str = "https://app.example.com";
/// The configured request headers, as every successful preflight lists them.
const LISTED: &str = "authorization, content-type, x-request-id";

fn config() -> CorsConfig {
    CorsConfig::new()
        .allow_origins([APP, "https://*.preview.example.com", "http://localhost:*"])
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allow_headers(["authorization", "content-type", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after"])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(600))
}

type Svc = CorsService<
    tower::util::ServiceFn<
        fn(Request<Full<Bytes>>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>,
    >,
>;

/// The handler answers `x-handler: hit`, the status in `x-status` (to play a
/// 429 or 500 from an inner layer), and a `Vary` given in `x-vary`.
#[allow(clippy::needless_pass_by_value)] // `service_fn` hands the request over by value
fn handler(
    req: Request<Full<Bytes>>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"body")));
    response
        .headers_mut()
        .insert("x-handler", "hit".parse().unwrap());
    if let Some(status) = req.headers().get("x-status") {
        *response.status_mut() = StatusCode::from_bytes(status.as_bytes()).unwrap();
    }
    for vary in req.headers().get_all("x-vary") {
        response.headers_mut().append(header::VARY, vary.clone());
    }
    std::future::ready(Ok(response))
}

fn service(config: &CorsConfig) -> Svc {
    CorsLayer::new(config)
        .unwrap()
        .layer(service_fn(handler as fn(_) -> _))
}

async fn send(svc: &Svc, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
    let response = svc.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn preflight(origin: &str, method: &str, headers: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(Method::OPTIONS)
        .uri("/items")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method);
    if let Some(h) = headers {
        builder = builder.header(header::ACCESS_CONTROL_REQUEST_HEADERS, h);
    }
    builder.body(Full::default()).unwrap()
}

fn get(origin: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get("/items");
    if let Some(o) = origin {
        builder = builder.header(header::ORIGIN, o);
    }
    builder.body(Full::default()).unwrap()
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn allowed_preflight_is_204_with_only_the_needed_headers() {
    let svc = service(&config());
    let (status, headers, body) = send(
        &svc,
        preflight(APP, "PUT", Some("authorization,content-type")),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "PUT");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], LISTED);
    assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
    assert_eq!(
        cors_headers(&headers),
        [
            "access-control-allow-credentials",
            "access-control-allow-headers",
            "access-control-allow-methods",
            "access-control-allow-origin",
            "access-control-max-age",
        ]
    );
    assert!(
        headers[header::VARY]
            .to_str()
            .unwrap()
            .starts_with("Origin")
    );
    assert!(
        headers.get("x-handler").is_none(),
        "a preflight never reaches the handler"
    );
}

#[tokio::test]
async fn preflight_for_a_safelisted_method_lists_no_method() {
    let svc = service(&config());
    let (status, headers, _) = send(&svc, preflight(APP, "GET", Some("x-request-id"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_METHODS).is_none());
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], LISTED);
}

#[tokio::test]
async fn requested_headers_any_case_whitespace_and_duplicates() {
    let svc = service(&config());
    for value in [
        "Authorization, Content-Type",
        " authorization ,\tcontent-type ",
        "authorization,authorization",
        "authorization,,content-type,",
    ] {
        let (status, headers, _) = send(&svc, preflight(APP, "PUT", Some(value))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{value:?}");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], LISTED);
    }
    // Split over two header lines.
    let mut req = preflight(APP, "PUT", Some("authorization"));
    req.headers_mut().append(
        header::ACCESS_CONTROL_REQUEST_HEADERS,
        "content-type".parse().unwrap(),
    );
    let (status, headers, _) = send(&svc, req).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        headers
            .get_all(header::ACCESS_CONTROL_ALLOW_HEADERS)
            .iter()
            .collect::<Vec<_>>(),
        [LISTED]
    );
    // An empty list asks for nothing.
    let (status, headers, _) = send(&svc, preflight(APP, "PUT", Some(""))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_HEADERS).is_none());
}

#[tokio::test]
async fn every_rejected_preflight_is_403_without_cors_headers() {
    let svc = service(&config());
    let cases = [
        preflight("https://evil.example", "PUT", None),
        preflight("https://app.example.com.evil.com", "GET", None),
        preflight("null", "PUT", None),
        preflight(APP, "TRACE", None),
        preflight(APP, "put", None),
        preflight(APP, "", None),
        preflight(APP, "P UT", None),
        preflight(APP, "PUT", Some("x-secret")),
        preflight(APP, "PUT", Some("authorization, x-secret")),
        preflight(APP, "PUT", Some("content-type;evil")),
        preflight(APP, "PUT", Some("cookie")),
        {
            let mut r = preflight(APP, "PUT", None);
            r.headers_mut().append(header::ORIGIN, APP.parse().unwrap());
            r
        },
        {
            let mut r = preflight(APP, "PUT", None);
            r.headers_mut().append(
                header::ACCESS_CONTROL_REQUEST_METHOD,
                "DELETE".parse().unwrap(),
            );
            r
        },
    ];
    for req in cases {
        let described = format!("{:?}", req.headers());
        let (status, headers, body) = send(&svc, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{described}");
        assert!(
            cors_headers(&headers).is_empty(),
            "{described}: {headers:?}"
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], 403);
        assert!(
            json.get("detail").is_none(),
            "no explanation outside debug mode"
        );
        assert!(headers.get("x-handler").is_none());
    }
}

#[tokio::test]
async fn debug_mode_explains_and_can_be_switched_at_run_time() {
    let layer = CorsLayer::new(&config()).unwrap();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(handler as fn(_) -> _));
    let explain = |svc: Svc, req| async move {
        let (status, headers, body) = send(&svc, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(cors_headers(&headers).is_empty());
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    handle.set_debug(true);
    let json = explain(svc.clone(), preflight("https://evil.example", "PUT", None)).await;
    assert_eq!(json["reason"], "origin-not-allowed");
    assert!(
        json["detail"]
            .as_str()
            .unwrap()
            .contains("https://evil.example")
    );
    let json = explain(svc.clone(), preflight(APP, "PURGE", None)).await;
    assert_eq!(json["reason"], "method-not-allowed");
    let json = explain(
        svc.clone(),
        preflight(APP, "PUT", Some("authorization, X-Secret")),
    )
    .await;
    assert_eq!(json["reason"], "header-not-allowed");
    assert!(json["detail"].as_str().unwrap().contains("X-Secret"));
    let json = explain(svc.clone(), preflight(APP, "PUT", Some("a b"))).await;
    assert_eq!(json["reason"], "malformed-request-headers");
    handle.set_debug(false);
    let json = explain(svc, preflight("https://evil.example", "PUT", None)).await;
    assert!(json.get("reason").is_none());
}

#[tokio::test]
async fn allowed_actual_request_gets_exact_origin_credentials_and_exposed_headers() {
    let svc = service(&config());
    for origin in [
        APP,
        "https://pr-7.preview.example.com",
        "http://localhost:5173",
    ] {
        let (status, headers, body) = send(&svc, get(Some(origin))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"body");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(
            headers[header::ACCESS_CONTROL_EXPOSE_HEADERS],
            "x-request-id, retry-after"
        );
        assert_eq!(headers[header::VARY], "Origin");
        assert_eq!(
            cors_headers(&headers),
            [
                "access-control-allow-credentials",
                "access-control-allow-origin",
                "access-control-expose-headers",
            ],
            "actual responses never carry preflight headers"
        );
    }
}

#[tokio::test]
async fn disallowed_actual_request_gets_no_cors_header_but_vary() {
    let svc = service(&config());
    for origin in [
        "https://evil.example",
        "https://preview.example.com",
        "https://app.example.com.evil.com",
        "https://APP.example.com",
        "https://app.example.com/",
        "null",
        "",
    ] {
        let (status, headers, _) = send(&svc, get(Some(origin))).await;
        assert_eq!(status, StatusCode::OK, "the handler still answers");
        assert!(cors_headers(&headers).is_empty(), "{origin}");
        assert_eq!(headers[header::VARY], "Origin");
    }
    let mut two = get(Some(APP));
    two.headers_mut()
        .append(header::ORIGIN, APP.parse().unwrap());
    let (_, headers, _) = send(&svc, two).await;
    assert!(cors_headers(&headers).is_empty());
}

#[tokio::test]
async fn request_without_origin_gets_no_cors_header() {
    let svc = service(&config());
    let (status, headers, _) = send(&svc, get(None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(cors_headers(&headers).is_empty());
    assert_eq!(
        headers[header::VARY],
        "Origin",
        "so that caches key on Origin"
    );
    let options = Request::builder()
        .method(Method::OPTIONS)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
        .body(Full::default())
        .unwrap();
    let (_, headers, _) = send(&svc, options).await;
    assert_eq!(
        headers["x-handler"], "hit",
        "OPTIONS without Origin is not a preflight"
    );
}

#[tokio::test]
async fn options_without_request_method_goes_to_the_handler() {
    let svc = service(&config());
    let req = Request::builder()
        .method(Method::OPTIONS)
        .header(header::ORIGIN, APP)
        .body(Full::default())
        .unwrap();
    let (_, headers, _) = send(&svc, req).await;
    assert_eq!(headers["x-handler"], "hit");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
}

#[tokio::test]
async fn existing_vary_is_kept_and_not_duplicated() {
    let svc = service(&config());
    let with_vary = |vary: &[&str]| {
        let mut req = get(Some(APP));
        for v in vary {
            req.headers_mut().append("x-vary", v.parse().unwrap());
        }
        req
    };
    let (_, headers, _) = send(&svc, with_vary(&["Accept-Encoding"])).await;
    let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
    let (_, headers, _) = send(&svc, with_vary(&["accept-encoding, origin"])).await;
    let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
    assert_eq!(vary, ["accept-encoding, origin"]);
    let (_, headers, _) = send(&svc, with_vary(&["Accept", "ORIGIN"])).await;
    assert_eq!(headers.get_all(header::VARY).iter().count(), 2);
    let (_, headers, _) = send(&svc, with_vary(&["*"])).await;
    let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
    assert_eq!(vary, ["*"]);
}

#[tokio::test]
async fn responses_of_inner_layers_carry_the_headers() {
    let svc = service(&config());
    for status in ["429", "500", "404", "401"] {
        let mut req = get(Some(APP));
        req.headers_mut()
            .insert("x-status", status.parse().unwrap());
        let (got, headers, _) = send(&svc, req).await;
        assert_eq!(got.as_str(), status);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }
}

#[tokio::test]
async fn any_origin_without_credentials() {
    let svc = service(&CorsConfig::new().allow_origin("*").allow_methods(["PUT"]));
    let (_, headers, _) = send(&svc, get(Some("https://anyone.example"))).await;
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(
        headers
            .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none()
    );
    assert!(
        headers.get(header::VARY).is_none(),
        "the answer does not depend on Origin"
    );
    let (status, headers, _) = send(&svc, preflight("https://anyone.example", "PUT", None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn wildcard_headers_never_cover_authorization() {
    let svc = service(
        &CorsConfig::new()
            .allow_origin(APP)
            .allow_methods(["PUT"])
            .allow_headers(["*"]),
    );
    let (status, headers, _) = send(&svc, preflight(APP, "PUT", Some("x-anything, x-else"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_HEADERS],
        "x-anything, x-else"
    );
    let (status, _, _) = send(&svc, preflight(APP, "PUT", Some("authorization"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn private_network_access_only_when_enabled() {
    let pna = |svc: Svc| async move {
        let mut req = preflight(APP, "GET", None);
        req.headers_mut().insert(
            "access-control-request-private-network",
            "true".parse().unwrap(),
        );
        let (status, headers, _) = send(&svc, req).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        headers.get("access-control-allow-private-network").cloned()
    };
    assert_eq!(
        pna(service(&config().allow_private_network(true)))
            .await
            .unwrap(),
        "true"
    );
    assert!(pna(service(&config())).await.is_none());
}

#[tokio::test]
async fn no_max_age_header_unless_configured() {
    let svc = service(&CorsConfig::new().allow_origin(APP).allow_methods(["PUT"]));
    let (_, headers, _) = send(&svc, preflight(APP, "PUT", None)).await;
    assert!(headers.get(header::ACCESS_CONTROL_MAX_AGE).is_none());
    assert!(
        headers
            .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none()
    );
}

#[tokio::test]
async fn extension_and_wildcard_methods() {
    let svc = service(&CorsConfig::new().allow_origin(APP).allow_methods(["PURGE"]));
    let (status, headers, _) = send(&svc, preflight(APP, "PURGE", None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "PURGE");
    let (status, _, _) = send(&svc, preflight(APP, "purge", None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "methods are case-sensitive");

    let svc = service(&CorsConfig::new().allow_origin(APP).allow_methods(["*"]));
    let (status, headers, _) = send(&svc, preflight(APP, "REPORT", None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "REPORT");
    let (status, _, _) = send(&svc, preflight(APP, "RE PORT", None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
