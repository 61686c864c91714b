//! The response future: binds the request's hub, captures a 5xx or an
//! error of the inner service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use sentry::{
    Hub, Level, TransactionOrSpan,
    protocol::{self, Event, Map},
};

use super::{
    layer::Shared,
    scope::{RequestScope, request_id},
    trace::replace_transaction_request,
};
use crate::{route::UNMATCHED, scrub::scrub_text};

/// What a tracked request carries along.
#[derive(Debug)]
pub(crate) struct Tracked {
    scope: RequestScope,
    shared: Arc<Shared>,
    /// Made on the first poll, from the hub current then: by that time
    /// sentry-tower's `SentryHttpLayer` (outside) has added the request
    /// data to it, which this hub inherits.
    hub: Option<Arc<Hub>>,
    /// The scrubbed request for a sampled transaction (only prepared when
    /// the client traces at all).
    transaction_request: Option<protocol::Request>,
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Passthrough { #[pin] future: F },
        Tracked { #[pin] future: F, tracked: Tracked },
    }
}

pin_project! {
    /// The response future of
    /// [`SentryContextService`](crate::SentryContextService).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tracked = matches!(self.kind, Kind::Tracked { .. });
        f.debug_struct("ResponseFuture")
            .field("tracked", &tracked)
            .finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn passthrough(future: F) -> Self {
        Self {
            kind: Kind::Passthrough { future },
        }
    }

    pub(crate) fn tracked(
        future: F,
        scope: RequestScope,
        shared: Arc<Shared>,
        transaction_request: Option<protocol::Request>,
    ) -> Self {
        Self {
            kind: Kind::Tracked {
                future,
                tracked: Tracked {
                    scope,
                    shared,
                    hub: None,
                    transaction_request,
                },
            },
        }
    }
}

impl Tracked {
    /// Whether this request's 5xx or error becomes an event: capturing is on
    /// for its route, and nothing was captured for the request yet (a panic
    /// caught further in, the handler's own capture), so that a request is
    /// never reported twice.
    fn captures(&self, hub: &Hub) -> bool {
        hub.last_event_id().is_none()
            && self
                .scope
                .with(|recorded| self.shared.captures(recorded.route.as_deref()))
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passthrough { future } => future.poll(cx),
            KindProj::Tracked { future, tracked } => {
                let hub = if let Some(hub) = &tracked.hub {
                    hub.clone()
                } else {
                    let (hub, span) = request_hub(&tracked.scope);
                    if let Some(data) = tracked.transaction_request.take() {
                        // Never the raw path, which sentry-tower names
                        // it by without a route: `/reset/<token>`.
                        let (method, route) = method_and_route(&tracked.scope);
                        replace_transaction_request(span, data, &format!("{method} {route}"));
                    }
                    tracked.hub.insert(hub).clone()
                };
                let result = ready!(Hub::run(hub.clone(), || future.poll(cx)));
                match &result {
                    Ok(response) if response.status().is_server_error() => {
                        if tracked.captures(&hub) {
                            tracked.scope.with(|recorded| {
                                if recorded.request_id.is_none() {
                                    recorded.request_id = request_id(response.headers());
                                }
                            });
                            hub.capture_event(server_error_event(
                                &tracked.scope,
                                response.status(),
                            ));
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        if tracked.captures(&hub) {
                            hub.capture_event(service_error_event(&tracked.scope, error));
                        }
                    }
                }
                Poll::Ready(result)
            }
        }
    }
}

/// A hub of this request alone, from the current hub's top scope, whose
/// event processor adds the request's recorded context; and the span
/// (transaction) current then.
fn request_hub(scope: &RequestScope) -> (Arc<Hub>, Option<TransactionOrSpan>) {
    let hub = Hub::with(|current| Hub::new_from_top(current));
    let scope = scope.clone();
    let span = hub.configure_scope(move |sentry_scope| {
        sentry_scope.add_event_processor(move |event| Some(scope.apply(event)));
        sentry_scope.get_span()
    });
    (Arc::new(hub), span)
}

/// The event of a 5xx response: grouped by method, route and status, so
/// that one failing route is one issue, whatever its ids.
fn server_error_event(scope: &RequestScope, status: StatusCode) -> Event<'static> {
    let (method, route) = method_and_route(scope);
    let mut tags = Map::new();
    tags.insert("http.status_code".to_owned(), status.as_str().to_owned());
    Event {
        message: Some(format!("{method} {route} answered {status}")),
        fingerprint: vec![
            "rampart-http-5xx".into(),
            method.into(),
            route.into(),
            status.as_str().to_owned().into(),
        ]
        .into(),
        tags,
        ..request_event()
    }
}

/// The event of an error the inner service returned instead of a
/// response: its `Display` text, scrubbed here already (an app may build
/// its client without this crate's `before_send`), grouped by method and
/// route.
fn service_error_event(scope: &RequestScope, error: &impl fmt::Display) -> Event<'static> {
    let (method, route) = method_and_route(scope);
    let text = error.to_string();
    Event {
        message: Some(format!("{method} {route} failed: {}", scrub_text(&text))),
        fingerprint: vec!["rampart-http-error".into(), method.into(), route.into()].into(),
        ..request_event()
    }
}

/// What both kinds of event share.
fn request_event() -> Event<'static> {
    Event {
        level: Level::Error,
        logger: Some("rampart_sentry".into()),
        ..Event::default()
    }
}

/// The request's method (empty if unknown) and route template
/// ([`UNMATCHED`] if none).
fn method_and_route(scope: &RequestScope) -> (String, String) {
    scope.with(|recorded| {
        (
            recorded
                .method
                .as_ref()
                .map_or("", |method| method.as_str())
                .to_owned(),
            recorded
                .route
                .clone()
                .unwrap_or_else(|| UNMATCHED.to_owned()),
        )
    })
}
