#![no_main]
//! `Accept` negotiation of the `/metrics` endpoint: any bytes give one of the
//! two formats, the same each time, never a panic; a value that names no
//! media type at all gives the default text format; and a value carried in
//! a real header reaches the same answer through `MetricsEndpoint`.

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use http::{HeaderValue, Request, header};
use rampart_metrics::{Format, Metrics};
use tower_service::Service;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let format = Format::from_accept(data);
    assert_eq!(Format::from_accept(data), format);
    if !data.contains(&b'/') {
        assert_eq!(format, Format::Text);
    }
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let request = Request::get("/metrics")
        .header(header::ACCEPT, value)
        .body(())
        .unwrap();
    let mut service = Metrics::new().service();
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(response)) = pin!(service.call(request)).poll(&mut cx) else {
        panic!("the endpoint answers at once");
    };
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        format.content_type()
    );
});
