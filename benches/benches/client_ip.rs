//! Client IP resolution per request: rampart-core's `ClientIpLayer` beside
//! axum-client-ip's `ClientIp` extractor, same requests, same run.
//!
//! Each side is what an application mounts: ours is `ClientIpLayer` around a
//! handler that reads the `ClientIp` extension; theirs is the
//! `ClientIpSource` extension layer (`ClientIpSource::into_extension()`)
//! around a handler that runs the `ClientIp` extractor. Both handlers split
//! the request into parts the same way. Requests (peer in `ConnectInfo`,
//! headers) are built outside the timed part.
//!
//! axum-client-ip has no trusted-proxy walk: `RightmostXForwardedFor` takes
//! the rightmost entry whoever sent it. Where that gives a different answer
//! (a chain of proxies) the case is still timed and is marked as such.
//!
//! `cargo bench -p rampart-benches --bench client_ip`

mod common;

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

use axum::extract::{ConnectInfo, Extension, FromRequestParts};
use axum_client_ip::{ClientIp as TheirClientIp, ClientIpSource as TheirSource};
use common::{Calls, call_now, serve_all};
use criterion::Criterion;
use http::{Request, Response};
use rampart::core::{ClientIp, ClientIpLayer, ForwardedHeader, TrustedProxies};
use tower::{Layer, Service, service_fn};

struct Case {
    name: &'static str,
    peer: &'static str,
    header: Option<(&'static str, &'static str)>,
    ours_header: ForwardedHeader,
    theirs: TheirSource,
    /// What a correct resolution gives, and what axum-client-ip gives.
    want: (&'static str, &'static str),
}

fn request(case: &Case) -> Request<()> {
    let mut request = Request::new(());
    request
        .extensions_mut()
        .insert(ConnectInfo(case.peer.parse::<SocketAddr>().unwrap()));
    if let Some((name, value)) = case.header {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    request
}

fn cases() -> [Case; 4] {
    [
        Case {
            name: "a_direct_peer",
            peer: "198.51.100.1:50000",
            header: None,
            ours_header: ForwardedHeader::XForwardedFor,
            theirs: TheirSource::ConnectInfo,
            want: ("198.51.100.1", "198.51.100.1"),
        },
        Case {
            name: "b_one_proxy_xff",
            peer: "10.0.0.1:50000",
            header: Some(("x-forwarded-for", "203.0.113.7")),
            ours_header: ForwardedHeader::XForwardedFor,
            theirs: TheirSource::RightmostXForwardedFor,
            want: ("203.0.113.7", "203.0.113.7"),
        },
        Case {
            name: "c_chain_of_3_xff_theirs_differs",
            peer: "10.0.0.4:50000",
            header: Some(("x-forwarded-for", "203.0.113.7, 10.0.0.2, 10.0.0.3")),
            ours_header: ForwardedHeader::XForwardedFor,
            theirs: TheirSource::RightmostXForwardedFor,
            want: ("203.0.113.7", "10.0.0.3"),
        },
        Case {
            name: "d_one_proxy_forwarded",
            peer: "10.0.0.1:50000",
            header: Some(("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#)),
            ours_header: ForwardedHeader::Forwarded,
            theirs: TheirSource::RightmostForwarded,
            want: ("2001:db8::7", "2001:db8::7"),
        },
    ]
}

type Answer = Response<Option<IpAddr>>;

/// `ClientIpLayer` trusting 10.0.0.0/8, around a handler that reads the
/// extension.
fn ours(case: &Case) -> impl Service<Request<()>, Response = Answer, Error = Infallible> {
    ClientIpLayer::new()
        .trusted_proxies("10.0.0.0/8".parse::<TrustedProxies>().unwrap())
        .header(case.ours_header)
        .layer(service_fn(|request: Request<()>| async move {
            let (parts, ()) = request.into_parts();
            let ip = parts.extensions.get::<ClientIp>().map(ClientIp::ip);
            Ok::<_, Infallible>(Response::new(ip))
        }))
}

/// The `ClientIpSource` extension layer around a handler that runs the
/// `ClientIp` extractor.
fn theirs(case: &Case) -> impl Service<Request<()>, Response = Answer, Error = Infallible> {
    Extension(case.theirs.clone()).layer(service_fn(|request: Request<()>| async move {
        let (mut parts, ()) = request.into_parts();
        let ip = TheirClientIp::from_request_parts(&mut parts, &())
            .await
            .ok()
            .map(|ip| ip.0);
        Ok::<_, Infallible>(Response::new(ip))
    }))
}

fn bench(c: &mut Criterion) {
    for case in &cases() {
        let mut ours = ours(case);
        let mut theirs = theirs(case);

        // Same inputs, answers checked before anything is timed.
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(*call_now(&mut ours, request(case)).body(), ip(case.want.0));
        assert_eq!(
            *call_now(&mut theirs, request(case)).body(),
            ip(case.want.1)
        );

        let mut group = Calls::group(c, format!("client_ip/{}", case.name));
        group.bench("rampart", &mut ours, || request(case));
        group.bench("axum-client-ip", &mut theirs, || request(case));
        group.finish();
    }
}

/// `CLIENT_IP_COUNT=<case>/<rampart|axum-client-ip>`: serves that case
/// `COUNT_REQUESTS` times and exits, for instruction counts that the load of
/// a shared machine does not blur:
///
/// ```sh
/// CLIENT_IP_COUNT=b_one_proxy_xff/rampart valgrind --tool=callgrind \
///     --toggle-collect='*call_now*' target/release/deps/client_ip-<hash>
/// ```
///
/// "Collected" divided by `COUNT_REQUESTS` is instructions per request.
fn count(which: &str) {
    const COUNT_REQUESTS: usize = 10_000;
    let (name, side) = which.split_once('/').expect("<case>/<side>");
    let case = cases()
        .into_iter()
        .find(|case| case.name == name)
        .expect("a case name");
    let requests: Vec<_> = (0..COUNT_REQUESTS).map(|_| request(&case)).collect();
    match side {
        "rampart" => serve_all(ours(&case), requests),
        "axum-client-ip" => serve_all(theirs(&case), requests),
        other => panic!("unknown side {other}"),
    }
}

fn main() {
    common::main_with_count("CLIENT_IP_COUNT", count, || {
        common::run(Criterion::default(), &[bench]);
    });
}
