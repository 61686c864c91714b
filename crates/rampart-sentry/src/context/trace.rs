//! Performance transactions: sentry-tower's `SentryHttpLayer` gives each
//! sampled transaction the request's raw URL (query string and path
//! included) and names it by the raw path when no route matched (or
//! without axum), and `before_send` never sees transactions in this version
//! of the SDK. So the context layer replaces both when a transaction is
//! sampled: the request scrubbed, the name the route template or
//! `<unmatched>`.

use http::Request;
use sentry::{
    Hub, TransactionOrSpan,
    protocol::{self, Url},
};

use crate::scrub::event::scrub_request;

/// Whether the current client may trace requests at all: only then is the
/// request's data prepared.
pub(crate) fn tracing_enabled() -> bool {
    Hub::with(|hub| {
        hub.client().is_some_and(|client| {
            let options = client.options();
            options.traces_sample_rate > 0.0 || options.traces_sampler.is_some()
        })
    })
}

/// The request's method, URL and headers as a transaction carries them,
/// scrubbed like an event's.
pub(crate) fn request_data<B>(request: &Request<B>) -> protocol::Request {
    let uri = request.uri();
    let url = if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        format!("{scheme}://{authority}{uri}")
    } else {
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("localhost");
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        format!("http://{host}{path}")
    };
    let mut data = protocol::Request {
        method: Some(request.method().to_string()),
        url: Url::parse(&url).ok(),
        headers: request
            .headers()
            .iter()
            .filter(|(_, value)| !value.is_sensitive())
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect(),
        ..protocol::Request::default()
    };
    scrub_request(&mut data);
    data
}

/// Gives `span`, when it is a sampled transaction, the scrubbed request
/// data and `name` (method and route template, or
/// [`UNMATCHED`](crate::route::UNMATCHED)).
pub(crate) fn replace_transaction_request(
    span: Option<TransactionOrSpan>,
    data: protocol::Request,
    name: &str,
) {
    if let Some(TransactionOrSpan::Transaction(transaction)) = span {
        if transaction.is_sampled() {
            transaction.set_request(data);
            transaction.set_name(name);
        }
    }
}
