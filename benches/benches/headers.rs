//! rampart-headers beside tower-http's `SetResponseHeaderLayer`, in the same
//! criterion run: the `api()` preset's ten headers, once set by
//! `SecurityHeadersLayer::api()` and once by ten stacked
//! `SetResponseHeaderLayer::if_not_present` (the same "handler wins" rule).
//!
//! The request is HTTPS (the `HttpsConnection` marker), so both sides send
//! HSTS; rampart also drops `Server`/`X-Powered-By`, which tower-http cannot.
//! Two handlers: one that sets `Content-Type` (a JSON handler), one that
//! sets nothing. A third group times the `html_app()` preset, whose policy
//! carries a fresh nonce per request (no tower-http equivalent).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-headers cargo bench -p rampart-benches --bench headers
//! ```

mod common;

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use common::{Calls, call_now};
use criterion::Criterion;
use http::{HeaderName, HeaderValue, Request, Response, header};
use http_body_util::Full;
use rampart::headers::{HttpsConnection, SecurityHeadersLayer};
use tower::{Layer, ServiceBuilder, service_fn};
use tower_http::set_header::SetResponseHeaderLayer;

/// The `api()` preset's headers, as tower-http is given them.
const API_HEADERS: [(&str, &str); 10] = [
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
    (
        "permissions-policy",
        "accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), \
         fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), \
         payment=(), picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), \
         sync-xhr=(), usb=(), xr-spatial-tracking=()",
    ),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
];

fn set(i: usize) -> SetResponseHeaderLayer<HeaderValue> {
    let (name, value) = API_HEADERS[i];
    SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

async fn json_handler(_req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn bare_handler(_req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

fn request() -> Request<()> {
    let mut request = Request::get("/calls/42").body(()).unwrap();
    request.extensions_mut().insert(HttpsConnection);
    request
}

macro_rules! tower_stack {
    ($handler:expr) => {
        ServiceBuilder::new()
            .layer(set(0))
            .layer(set(1))
            .layer(set(2))
            .layer(set(3))
            .layer(set(4))
            .layer(set(5))
            .layer(set(6))
            .layer(set(7))
            .layer(set(8))
            .layer(set(9))
            .service(service_fn($handler))
    };
}

fn bench(c: &mut Criterion) {
    // Both stacks must send the same headers.
    let mut rampart = SecurityHeadersLayer::api().layer(service_fn(json_handler));
    let mut tower = tower_stack!(json_handler);
    let ours = call_now(&mut rampart, request());
    let theirs = call_now(&mut tower, request());
    assert_eq!(ours.headers().len(), 11);
    for (name, value) in theirs.headers() {
        assert_eq!(ours.headers().get(name), Some(value), "{name}");
    }

    {
        let mut group = Calls::group(c, "headers/api/json handler");
        group.bench("rampart", &mut rampart, request);
        group.bench("tower-http", &mut tower, request);
        group.finish();
    }
    {
        let mut rampart = SecurityHeadersLayer::api().layer(service_fn(bare_handler));
        let mut tower = tower_stack!(bare_handler);
        let mut group = Calls::group(c, "headers/api/bare handler");
        group.bench("rampart", &mut rampart, request);
        group.bench("tower-http", &mut tower, request);
        group.finish();
    }
    {
        let mut html = SecurityHeadersLayer::html_app().layer(service_fn(json_handler));
        let mut group = Calls::group(c, "headers/html_app nonce/json handler");
        group.bench("rampart", &mut html, request);
        group.finish();
    }
}

fn main() {
    common::run(common::short_runs(Duration::from_secs(3)), &[bench]);
}
