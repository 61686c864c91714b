//! rampart-cors beside tower-http's `CorsLayer`, in the same criterion run,
//! with the same allow-list: credentials, five methods, two request headers,
//! one exposed header, a max-age.
//!
//! Four cases (allowed / disallowed simple request, allowed / rejected
//! preflight), each with 2 and with 100 exact origins. The request's origin
//! is the *last* of the list (and, when disallowed, in none of it): the case
//! a linear scan pays most for.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-cors cargo bench -p rampart-benches --bench cors
//! ```

mod common;

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use common::{Calls, serve_all};
use criterion::Criterion;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::Full;
use rampart::cors::CorsConfig;
use tower::{Layer, service_fn};
use tower_http::cors::{AllowOrigin, CorsLayer as TowerCors};

const CASES: [Case; 4] = [
    Case::AllowedSimple,
    Case::DisallowedSimple,
    Case::AllowedPreflight,
    Case::RejectedPreflight,
];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

fn origins(n: usize) -> Vec<String> {
    if n == 2 {
        return vec![
            "http://localhost:5173".into(),
            "https://app.example.com".into(),
        ];
    }
    (0..n)
        .map(|i| format!("https://app{i}.example.com"))
        .collect()
}

fn rampart_layer(origins: &[String]) -> rampart::cors::CorsLayer {
    CorsConfig::new()
        .allow_origins(origins.iter().cloned())
        .allow_methods(METHODS.iter().map(Method::as_str))
        .allow_headers(["authorization", "content-type"])
        .expose_headers(["x-request-id"])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
        .build()
        .expect("valid configuration")
}

fn tower_layer(origins: &[String]) -> TowerCors {
    TowerCors::new()
        .allow_origin(AllowOrigin::list(
            origins.iter().map(|o| HeaderValue::from_str(o).unwrap()),
        ))
        .allow_methods(METHODS.to_vec())
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::HeaderName::from_static("x-request-id")])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
}

async fn handler(_req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::default()))
}

/// The four requests of the benchmark.
#[derive(Clone, Copy)]
enum Case {
    AllowedSimple,
    DisallowedSimple,
    AllowedPreflight,
    RejectedPreflight,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Self::AllowedSimple => "allowed simple",
            Self::DisallowedSimple => "disallowed simple",
            Self::AllowedPreflight => "allowed preflight",
            Self::RejectedPreflight => "rejected preflight",
        }
    }

    fn request(self, allowed: &str) -> Request<()> {
        let (method, origin, preflight) = match self {
            Self::AllowedSimple => (Method::GET, allowed, false),
            Self::DisallowedSimple => (Method::GET, "https://evil.example", false),
            Self::AllowedPreflight => (Method::OPTIONS, allowed, true),
            Self::RejectedPreflight => (Method::OPTIONS, "https://evil.example", true),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri("/calls/42")
            .header(header::ORIGIN, origin);
        if preflight {
            builder = builder
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PUT")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "authorization,content-type",
                );
        }
        builder.body(()).unwrap()
    }
}

fn bench(c: &mut Criterion) {
    for n in [2, 100] {
        let list = origins(n);
        let allowed = list.last().cloned().unwrap_or_default();
        let mut rampart = rampart_layer(&list).layer(service_fn(handler));
        let mut tower = tower_layer(&list).layer(service_fn(handler));
        for case in CASES {
            let mut group = Calls::group(c, format!("cors/{n} origins/{}", case.name()));
            group.bench("rampart", &mut rampart, || case.request(&allowed));
            group.bench("tower-http", &mut tower, || case.request(&allowed));
            group.finish();
        }
    }
}

/// `CORS_COUNT=<origins>/<case>/<rampart|tower-http>` (case as in the group
/// names, spaces as `-`): serves that case `COUNT_REQUESTS` times and exits,
/// for instruction counts that a loaded machine does not blur:
///
/// ```sh
/// CORS_COUNT=2/allowed-preflight/rampart valgrind --tool=callgrind \
///     --toggle-collect='*call_now*' /work/target-cors/release/deps/cors-<hash>
/// ```
///
/// "Collected" divided by `COUNT_REQUESTS` is instructions per request.
fn count(which: &str) {
    const COUNT_REQUESTS: usize = 10_000;
    let mut parts = which.split('/');
    let (Some(n), Some(name), Some(side)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("CORS_COUNT=<origins>/<case>/<side>");
    };
    let n: usize = n.parse().expect("a number of origins");
    let case = CASES
        .into_iter()
        .find(|c| c.name().replace(' ', "-") == name)
        .expect("a case name");
    let list = origins(n);
    let allowed = list.last().cloned().unwrap_or_default();
    let requests: Vec<_> = (0..COUNT_REQUESTS)
        .map(|_| case.request(&allowed))
        .collect();
    match side {
        "rampart" => serve_all(rampart_layer(&list).layer(service_fn(handler)), requests),
        "tower-http" => serve_all(tower_layer(&list).layer(service_fn(handler)), requests),
        other => panic!("unknown side {other}"),
    }
}

fn main() {
    common::main_with_count("CORS_COUNT", count, || {
        common::run(common::short_runs(Duration::from_secs(2)), &[bench]);
    });
}
