//! Property tests of the parsers (the fuzz target `tenant_id` checks the
//! same properties on arbitrary bytes).

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
};

use http::{Request, Response};
use proptest::prelude::*;
use rampart_core::TrustedProxies;
use rampart_tenant::{Tenant, TenantId, TenantLayer};
use tower::{Layer, Service, service_fn};

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Runs one request through a layer with every client-side source; the
/// status and the tenant the handler saw.
fn resolve(request: Request<()>) -> (u16, Option<String>) {
    let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    let layer = TenantLayer::builder()
        .from_subdomain("app.example.com")
        .from_header("x-tenant-id", trusted)
        .from_path_prefix("/t/")
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    let mut service = layer.layer(service_fn(move |request: Request<()>| {
        *record.lock().unwrap() = request
            .extensions()
            .get::<Tenant>()
            .map(|t| t.id().to_string());
        async { Ok::<_, Infallible>(Response::new(())) }
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        panic!("ready at once");
    };
    let status = response.status().as_u16();
    let seen = seen.lock().unwrap().clone();
    (status, seen)
}

fn request(
    path: &str,
    host: Option<&str>,
    header: Option<&str>,
    peer: &str,
) -> Option<Request<()>> {
    let mut builder = Request::get(path);
    if let Some(host) = host {
        builder = builder.header("host", host);
    }
    if let Some(header) = header {
        builder = builder.header("x-tenant-id", header);
    }
    let mut request = builder.body(()).ok()?;
    request
        .extensions_mut()
        .insert(peer.parse::<SocketAddr>().unwrap());
    Some(request)
}

proptest! {
    #[test]
    fn tenant_id_accepts_exactly_the_allowed_alphabet(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let valid = (1..=64).contains(&bytes.len()) && bytes.iter().all(|&b| allowed(b));
        match TenantId::from_bytes(&bytes) {
            Ok(id) => {
                prop_assert!(valid);
                prop_assert_eq!(id.as_str().as_bytes(), &bytes[..]);
            }
            Err(_) => prop_assert!(!valid),
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn valid_ids_round_trip_through_serde(id in "[A-Za-z0-9_-]{1,64}") {
        let parsed: TenantId = id.parse().unwrap();
        let json = serde_json::to_string(&parsed).unwrap();
        prop_assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), parsed);
    }

    #[test]
    fn a_label_under_the_base_domain_is_the_tenant(label in "[A-Za-z0-9][A-Za-z0-9-]{0,30}", port in proptest::option::of(1u16..)) {
        let host = match port {
            Some(port) => format!("{label}.App.Example.com:{port}"),
            None => format!("{label}.app.example.com"),
        };
        let request = request("/x", Some(&host), None, "203.0.113.1:1").unwrap();
        let (status, seen) = resolve(request);
        if label.eq_ignore_ascii_case("www") {
            prop_assert_eq!(status, 401);
        } else {
            prop_assert_eq!(status, 200);
            prop_assert_eq!(seen, Some(label.to_ascii_lowercase()));
        }
    }

    #[test]
    fn other_hosts_never_name_a_tenant(host in "[a-z0-9.-]{0,40}") {
        prop_assume!(!host.trim_end_matches('.').ends_with(".app.example.com"));
        if let Some(request) = request("/x", Some(&host), None, "203.0.113.1:1") {
            prop_assert_eq!(resolve(request), (401, None));
        }
    }

    #[test]
    fn a_header_from_an_untrusted_peer_never_names_a_tenant(
        value in "[ -~]{0,70}",
        peer in prop_oneof![Just("203.0.113.1:1"), Just("127.0.0.1:9"), Just("[::1]:9"), Just("[::ffff:11.0.0.1]:9")],
    ) {
        if let Some(request) = request("/x", None, Some(&value), peer) {
            prop_assert_eq!(resolve(request), (401, None));
        }
    }

    #[test]
    fn a_header_from_a_trusted_peer_is_the_tenant_when_valid(value in "[ -~]{1,70}") {
        if let Some(request) = request("/x", None, Some(&value), "10.1.2.3:1") {
            let valid = TenantId::new(value.trim()).is_ok() && value.trim() == value;
            let (status, seen) = resolve(request);
            if valid {
                prop_assert_eq!((status, seen), (200, Some(value.clone())));
            } else {
                prop_assert_eq!((status, seen), (400, None));
            }
        }
    }

    #[test]
    fn any_path_is_200_400_or_401(path in "/[ -~]{0,60}") {
        if let Some(request) = request(&path, None, None, "203.0.113.1:1") {
            let (status, seen) = resolve(request);
            prop_assert!(matches!(status, 200 | 400 | 401), "{}", status);
            if let Some(id) = seen {
                let prefix = format!("/t/{id}");
                prop_assert!(path.starts_with(&prefix), "{} from {}", id, path);
            }
        }
    }
}
