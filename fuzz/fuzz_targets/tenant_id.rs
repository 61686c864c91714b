#![no_main]
//! Fuzz target for rampart-tenant's parsers: `TenantId`, and the subdomain,
//! header and path sources as `TenantLayer` runs them on a request.
//!
//! Properties checked on every input:
//! * nothing panics;
//! * `TenantId` accepts exactly 1 to 64 ASCII letters, digits, `-` and `_`,
//!   and keeps them byte for byte;
//! * through the layer, a request is answered 200, 400 or 401, never
//!   anything else; a 200 carries a valid tenant that came from the host's
//!   label (lowercased), the header (only from the trusted peer) or the
//!   path's segment, in that order of precedence.
//!
//! ```text
//! cd fuzz && cargo +nightly fuzz run tenant_id -- -max_total_time=30
//! ```

use std::{
    cell::RefCell,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::pin,
    rc::Rc,
    task::{Context, Poll, Waker},
};

use arbitrary::Arbitrary;
use http::{HeaderValue, Request, Response};
use rampart_tenant::{Tenant, TenantId, TenantLayer};
use tower::{Layer, Service, service_fn};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    id: &'a [u8],
    host: &'a [u8],
    header: &'a [u8],
    path: &'a [u8],
    trusted_peer: bool,
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn valid(bytes: &[u8]) -> bool {
    (1..=64).contains(&bytes.len()) && bytes.iter().all(|&b| allowed(b))
}

libfuzzer_sys::fuzz_target!(|input: Input<'_>| {
    match TenantId::from_bytes(input.id) {
        Ok(id) => {
            assert!(valid(input.id));
            assert_eq!(id.as_str().as_bytes(), input.id);
        }
        Err(_) => assert!(!valid(input.id)),
    }
    if let Ok(text) = std::str::from_utf8(input.id) {
        assert_eq!(text.parse::<TenantId>().is_ok(), valid(input.id));
    }

    let layer = TenantLayer::builder()
        .from_subdomain("app.example.com")
        .from_header(
            "x-tenant-id",
            "10.0.0.0/8"
                .parse::<rampart_core::TrustedProxies>()
                .unwrap(),
        )
        .from_path_prefix("/t/")
        .build()
        .unwrap();
    let seen: Rc<RefCell<Option<String>>> = Rc::default();
    let record = Rc::clone(&seen);
    let mut service = layer.layer(service_fn(move |request: Request<()>| {
        *record.borrow_mut() = request
            .extensions()
            .get::<Tenant>()
            .map(|t| t.id().to_string());
        async { Ok::<_, Infallible>(Response::new(())) }
    }));

    let Ok(path) = std::str::from_utf8(input.path) else {
        return;
    };
    let Ok(mut request) = Request::get(format!("/{path}")).body(()) else {
        return;
    };
    let host = HeaderValue::from_bytes(input.host).ok();
    if let Some(host) = &host {
        request
            .headers_mut()
            .insert(http::header::HOST, host.clone());
    }
    let header = HeaderValue::from_bytes(input.header).ok();
    if let Some(header) = &header {
        request.headers_mut().insert("x-tenant-id", header.clone());
    }
    let peer: SocketAddr = if input.trusted_peer {
        "10.0.0.1:1000"
    } else {
        "203.0.113.1:1000"
    }
    .parse()
    .unwrap();
    request.extensions_mut().insert(peer);

    let mut cx = Context::from_waker(Waker::noop());
    let mut future = pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        panic!("no lookup and an immediate handler: ready at once");
    };
    let status = response.status().as_u16();
    assert!(matches!(status, 200 | 400 | 401), "status {status}");
    if status == 200 {
        let id = seen.borrow().clone().expect("a 200 has a tenant");
        assert!(valid(id.as_bytes()), "{id:?}");
        let in_host = host.as_ref().is_some_and(|h| {
            String::from_utf8_lossy(h.as_bytes())
                .to_ascii_lowercase()
                .contains(&id)
        });
        let in_header = header
            .as_ref()
            .is_some_and(|h| h.as_bytes() == id.as_bytes());
        assert!(
            in_host || path.contains(&id) || (in_header && input.trusted_peer),
            "tenant {id:?} from nowhere (header believed from an untrusted peer?)"
        );
    } else {
        assert!(
            seen.borrow().is_none(),
            "a rejection never reaches the handler"
        );
    }
});
