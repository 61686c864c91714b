//! What a client sees from `SecurityHeadersLayer`: every header of each
//! preset, handler precedence and overrides, routes and exemptions, the HSTS
//! rules, and a fresh CSP nonce per request.

use std::{collections::HashSet, convert::Infallible, net::SocketAddr};

use http::{HeaderMap, HeaderValue, Request, Response, header};
use rampart_core::TrustedProxies;
use rampart_headers::{
    CspNonce, FrameOptions, Hsts, HttpsConnection, SecurityHeaders, SecurityHeadersLayer,
    csp::{ContentSecurityPolicy, Directive, Source},
};
use tower::{Layer, Service, ServiceExt, service_fn};

/// A handler that sets the headers it is given, and echoes the request's
/// nonce in its body.
fn handler(
    set: &'static [(&'static str, &'static str)],
) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone {
    service_fn(move |req: Request<()>| async move {
        let nonce = req
            .extensions()
            .get::<CspNonce>()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let mut response = Response::new(nonce);
        for (name, value) in set {
            response
                .headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        Ok(response)
    })
}

async fn get(layer: &SecurityHeadersLayer, request: Request<()>) -> Response<String> {
    layer.layer(handler(&[])).oneshot(request).await.unwrap()
}

async fn headers_of(layer: &SecurityHeadersLayer, request: Request<()>) -> HeaderMap {
    get(layer, request).await.headers().clone()
}

fn https_request(path: &str) -> Request<()> {
    let mut request = Request::get(path).body(()).unwrap();
    request.extensions_mut().insert(HttpsConnection);
    request
}

const PERMISSIONS: &str = "accelerometer=(), autoplay=(), camera=(), display-capture=(), \
    encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), \
    microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), \
    screen-wake-lock=(), sync-xhr=(), usb=(), xr-spatial-tracking=()";

#[tokio::test]
async fn api_preset_sets_every_header_with_the_issue_values() {
    let headers = headers_of(&SecurityHeadersLayer::api(), https_request("/v1/calls")).await;
    let expected = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("permissions-policy", PERMISSIONS),
        ("x-permitted-cross-domain-policies", "none"),
        ("x-xss-protection", "0"),
    ];
    for (name, value) in expected {
        assert_eq!(
            headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(headers.len(), expected.len(), "{headers:?}");
}

#[tokio::test]
async fn html_app_preset_has_a_nonce_csp_and_sameorigin_framing() {
    let response = get(&SecurityHeadersLayer::html_app(), https_request("/")).await;
    let headers = response.headers();
    let nonce = response.body();
    assert_eq!(nonce.len(), 24);
    assert_eq!(
        headers["content-security-policy"],
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; \
             img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; \
             frame-ancestors 'self'; upgrade-insecure-requests"
        )
    );
    assert_eq!(headers["x-frame-options"], "SAMEORIGIN");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("permissions-policy", PERMISSIONS),
        ("x-permitted-cross-domain-policies", "none"),
        ("x-xss-protection", "0"),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }
}

#[tokio::test]
async fn nonce_is_fresh_per_request_and_matches_the_handlers() {
    let service = SecurityHeadersLayer::html_app().layer(handler(&[]));
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let response = service.clone().oneshot(Request::new(())).await.unwrap();
        let nonce = response.body().clone();
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(csp.contains(&format!("'nonce-{nonce}'")), "{csp}");
        assert!(seen.insert(nonce), "nonce repeated");
    }
}

#[tokio::test]
async fn api_preset_puts_no_nonce_in_extensions() {
    let response = get(&SecurityHeadersLayer::api(), Request::new(())).await;
    assert_eq!(response.body(), "");
}

#[tokio::test]
async fn server_and_x_powered_by_are_removed() {
    let service = SecurityHeadersLayer::api().layer(handler(&[
        ("server", "hyper/1.0"),
        ("x-powered-by", "Rust"),
        ("content-type", "application/json"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]));
    let response = service.oneshot(Request::new(())).await.unwrap();
    let headers = response.headers();
    assert!(headers.get("server").is_none());
    assert!(headers.get("x-powered-by").is_none());
    assert_eq!(headers["content-type"], "application/json");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[tokio::test]
async fn handler_values_win_by_default() {
    let service = SecurityHeadersLayer::api().layer(handler(&[
        ("x-frame-options", "SAMEORIGIN"),
        ("content-security-policy", "default-src 'self'"),
        ("referrer-policy", "strict-origin"),
    ]));
    let response = service.oneshot(Request::new(())).await.unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-frame-options"], "SAMEORIGIN");
    assert_eq!(headers["content-security-policy"], "default-src 'self'");
    assert_eq!(headers["referrer-policy"], "strict-origin");
    assert_eq!(headers.get_all("x-frame-options").iter().count(), 1);
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn overriding_headers_replace_the_handlers_others_do_not() {
    let layer = SecurityHeaders::api()
        .overriding(header::X_FRAME_OPTIONS)
        .overriding(header::CONTENT_SECURITY_POLICY)
        .build()
        .unwrap();
    let service = layer.layer(handler(&[
        ("x-frame-options", "SAMEORIGIN"),
        ("x-frame-options", "ALLOWALL"),
        ("content-security-policy", "default-src *"),
        ("referrer-policy", "unsafe-url"),
    ]));
    let response = service.oneshot(Request::new(())).await.unwrap();
    let headers = response.headers();
    let frame: Vec<_> = headers.get_all("x-frame-options").iter().collect();
    assert_eq!(frame, ["DENY"]);
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(headers["referrer-policy"], "unsafe-url");
}

#[tokio::test]
async fn overriding_all_replaces_every_handler_value() {
    let layer = SecurityHeaders::html_app()
        .overriding_all()
        .build()
        .unwrap();
    let service = layer.layer(handler(&[
        ("x-frame-options", "ALLOWALL"),
        ("content-security-policy", "default-src *"),
    ]));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.headers()["x-frame-options"], "SAMEORIGIN");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.starts_with("default-src 'self'; script-src 'self' 'nonce-"),
        "{csp}"
    );
}

#[tokio::test]
async fn nonce_policy_if_not_present_keeps_the_handlers_policy() {
    let service = SecurityHeadersLayer::html_app().layer(handler(&[(
        "content-security-policy",
        "default-src 'self'",
    )]));
    let response = service.oneshot(Request::new(())).await.unwrap();
    let all: Vec<_> = response
        .headers()
        .get_all("content-security-policy")
        .iter()
        .collect();
    assert_eq!(all, ["default-src 'self'"]);
}

#[tokio::test]
async fn routes_get_their_own_set_and_exempt_prefixes_nothing() {
    let layer = SecurityHeaders::api()
        .route(
            "/docs",
            SecurityHeaders::api().content_security_policy(ContentSecurityPolicy::swagger_ui()),
        )
        .route(
            "/docs/raw/",
            SecurityHeaders::api().frame_options(FrameOptions::SameOrigin),
        )
        .exempt("/metrics")
        .build()
        .unwrap();
    let swagger = ContentSecurityPolicy::swagger_ui().to_string();
    let api_csp = "default-src 'none'; frame-ancestors 'none'";
    for (path, csp) in [
        ("/docs", swagger.as_str()),
        ("/docs/", swagger.as_str()),
        ("/docs/index.html?x=1", swagger.as_str()),
        ("/docsearch", api_csp),
        ("/doc", api_csp),
        ("/", api_csp),
        ("/docs/raw", api_csp),
    ] {
        let headers = headers_of(&layer, Request::get(path).body(()).unwrap()).await;
        assert_eq!(headers["content-security-policy"], csp, "{path}");
    }
    let raw = headers_of(&layer, Request::get("/docs/raw/x").body(()).unwrap()).await;
    assert_eq!(raw["x-frame-options"], "SAMEORIGIN");
    for path in ["/metrics", "/metrics/", "/metrics/x"] {
        let service = layer.layer(handler(&[("server", "demo")]));
        let response = service
            .oneshot(Request::get(path).body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            response.headers().len(),
            1,
            "{path}: {:?}",
            response.headers()
        );
        assert_eq!(response.headers()["server"], "demo");
    }
    let not_exempt = headers_of(&layer, Request::get("/metricsx").body(()).unwrap()).await;
    assert!(not_exempt.contains_key("content-security-policy"));
}

#[tokio::test]
async fn route_and_preset_errors_are_typed() {
    use rampart_headers::SecurityHeadersConfigError;
    assert_eq!(
        SecurityHeaders::api()
            .exempt("metrics")
            .build()
            .unwrap_err(),
        SecurityHeadersConfigError::InvalidRoutePrefix {
            prefix: "metrics".into()
        }
    );
    assert_eq!(
        SecurityHeaders::api()
            .exempt("/a")
            .exempt("/a/")
            .build()
            .unwrap_err(),
        SecurityHeadersConfigError::DuplicateRoute {
            prefix: "/a/".into()
        }
    );
    assert!(matches!(
        SecurityHeaders::api()
            .route("/a", SecurityHeaders::api().exempt("/b"))
            .build()
            .unwrap_err(),
        SecurityHeadersConfigError::NestedRoutes { .. }
    ));
    assert!(matches!(
        SecurityHeaders::api()
            .hsts(Hsts::one_year().include_subdomains(false).preload(true))
            .build()
            .unwrap_err(),
        SecurityHeadersConfigError::HstsPreload { .. }
    ));
    for prefix in ["/a?b", "/a#b", "/a b", ""] {
        assert!(
            SecurityHeaders::api().exempt(prefix).build().is_err(),
            "{prefix:?}"
        );
    }
}

mod hsts {
    use super::*;

    const HSTS: &str = "strict-transport-security";

    fn from_peer(peer: &str, proto: Option<&str>) -> Request<()> {
        let mut request = Request::get("/").body(()).unwrap();
        request
            .extensions_mut()
            .insert(peer.parse::<SocketAddr>().unwrap());
        if let Some(proto) = proto {
            request
                .headers_mut()
                .insert("x-forwarded-proto", proto.parse().unwrap());
        }
        request
    }

    fn behind_proxy() -> SecurityHeadersLayer {
        SecurityHeaders::api()
            .trusted_proxies("10.0.0.0/8".parse::<TrustedProxies>().unwrap())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn not_on_plain_http() {
        let headers = headers_of(&SecurityHeadersLayer::api(), Request::new(())).await;
        assert!(!headers.contains_key(HSTS));
        assert!(headers.contains_key("x-frame-options"));
    }

    #[tokio::test]
    async fn on_an_https_uri() {
        let request = Request::get("https://api.example.com/").body(()).unwrap();
        let headers = headers_of(&SecurityHeadersLayer::api(), request).await;
        assert_eq!(headers[HSTS], "max-age=31536000; includeSubDomains");
        let request = Request::get("http://api.example.com/").body(()).unwrap();
        assert!(
            !headers_of(&SecurityHeadersLayer::api(), request)
                .await
                .contains_key(HSTS)
        );
    }

    #[tokio::test]
    async fn on_a_tls_connection_marker() {
        let headers = headers_of(&SecurityHeadersLayer::api(), https_request("/")).await;
        assert!(headers.contains_key(HSTS));
    }

    #[tokio::test]
    async fn forwarded_proto_only_from_a_trusted_proxy() {
        let layer = behind_proxy();
        for (peer, proto, expected) in [
            ("10.1.2.3:4000", Some("https"), true),
            ("10.1.2.3:4000", Some("HTTPS"), true),
            ("10.1.2.3:4000", Some("http, https"), true),
            ("10.1.2.3:4000", Some("https, http"), false),
            ("10.1.2.3:4000", Some("http"), false),
            ("10.1.2.3:4000", Some("httpsx"), false),
            ("10.1.2.3:4000", None, false),
            ("203.0.113.9:4000", Some("https"), false),
            ("[::ffff:10.0.0.1]:4000", Some("https"), true),
        ] {
            let headers = headers_of(&layer, from_peer(peer, proto)).await;
            assert_eq!(headers.contains_key(HSTS), expected, "{peer} {proto:?}");
        }
        // No peer address recorded: nobody to trust.
        let mut request = Request::new(());
        request
            .headers_mut()
            .insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(!headers_of(&layer, request).await.contains_key(HSTS));
        // Without trusted proxies the header is never believed.
        let headers = headers_of(
            &SecurityHeadersLayer::api(),
            from_peer("10.1.2.3:4000", Some("https")),
        )
        .await;
        assert!(!headers.contains_key(HSTS));
    }

    #[tokio::test]
    async fn forwarded_proto_from_a_trusted_proxy_counts_as_https() {
        let layer = behind_proxy();
        for (peer, forwarded, expected) in [
            ("10.1.2.3:4000", "for=192.0.2.1;proto=https", true),
            ("10.1.2.3:4000", "for=192.0.2.1;Proto=\"HTTPS\"", true),
            (
                "10.1.2.3:4000",
                "proto=http, for=192.0.2.1;proto=https",
                true,
            ),
            (
                "10.1.2.3:4000",
                "proto=https, for=192.0.2.1;proto=http",
                false,
            ),
            ("10.1.2.3:4000", "for=192.0.2.1", false),
            ("10.1.2.3:4000", "proto", false),
            ("10.1.2.3:4000", ";;=;proto==https", false),
            ("203.0.113.9:4000", "for=192.0.2.1;proto=https", false),
        ] {
            let mut request = from_peer(peer, None);
            request
                .headers_mut()
                .insert("forwarded", forwarded.parse().unwrap());
            let headers = headers_of(&layer, request).await;
            assert_eq!(headers.contains_key(HSTS), expected, "{peer} {forwarded}");
        }
    }

    #[tokio::test]
    async fn always_when_configured() {
        let layer = SecurityHeaders::api()
            .hsts(Hsts::two_years().preload(true).always(true))
            .build()
            .unwrap();
        let headers = headers_of(&layer, Request::new(())).await;
        assert_eq!(
            headers[HSTS],
            "max-age=63072000; includeSubDomains; preload"
        );
    }

    #[tokio::test]
    async fn none_when_dropped() {
        let layer = SecurityHeaders::api()
            .without(&header::STRICT_TRANSPORT_SECURITY)
            .build()
            .unwrap();
        assert!(
            !headers_of(&layer, https_request("/"))
                .await
                .contains_key(HSTS)
        );
    }

    #[tokio::test]
    async fn handler_hsts_is_kept_on_plain_http_even_when_overriding() {
        let layer = SecurityHeaders::api()
            .overriding(header::STRICT_TRANSPORT_SECURITY)
            .build()
            .unwrap();
        let service = layer.layer(handler(&[(HSTS, "max-age=60")]));
        let plain = service.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(plain.headers()[HSTS], "max-age=60");
        let https = service.oneshot(https_request("/")).await.unwrap();
        assert_eq!(https.headers()[HSTS], "max-age=31536000; includeSubDomains");
    }
}

#[tokio::test]
async fn report_only_policy_with_reporting_endpoints() {
    let csp = ContentSecurityPolicy::builder()
        .directive(Directive::DefaultSrc, [Source::SelfOrigin])
        .directive(Directive::ScriptSrc, [Source::Nonce])
        .report_to("csp")
        .reporting_endpoint("csp", "/csp-report")
        .report_uri("/csp-report")
        .report_only(true)
        .build()
        .unwrap();
    let layer = SecurityHeaders::api()
        .content_security_policy(csp)
        .build()
        .unwrap();
    let response = get(&layer, Request::new(())).await;
    let headers = response.headers();
    assert!(!headers.contains_key("content-security-policy"));
    assert_eq!(
        headers["content-security-policy-report-only"],
        format!(
            "default-src 'self'; script-src 'nonce-{}'; report-to csp; report-uri /csp-report",
            response.body()
        )
    );
    assert_eq!(headers["reporting-endpoints"], "csp=\"/csp-report\"");
}

#[tokio::test]
async fn custom_headers_and_kept_headers() {
    let layer = SecurityHeaders::new()
        .header(
            http::HeaderName::from_static("cross-origin-embedder-policy"),
            HeaderValue::from_static("require-corp"),
        )
        .remove_header(header::SERVER)
        .keep_header(&header::SERVER)
        .build()
        .unwrap();
    let service = layer.layer(handler(&[("server", "demo")]));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(
        response.headers()["cross-origin-embedder-policy"],
        "require-corp"
    );
    assert_eq!(response.headers()["server"], "demo");
    assert_eq!(response.headers().len(), 2);
}

#[tokio::test]
async fn errors_of_the_inner_service_pass_through() {
    let failing = service_fn(|_req: Request<()>| async { Err::<Response<()>, _>("boom") });
    let result = SecurityHeadersLayer::api()
        .layer(failing)
        .oneshot(Request::new(()))
        .await;
    assert_eq!(result.unwrap_err(), "boom");
}
