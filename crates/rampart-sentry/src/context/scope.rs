//! What one request has told about itself so far, shared by the context
//! layer, the identity layer and the events of the request.

use std::sync::{Arc, Mutex, PoisonError};

use http::{HeaderMap, Method};
use sentry::protocol::{Event, User};

/// Tag values longer than this are cut (Sentry's own limit is 200).
const MAX_TAG: usize = 200;

/// The request's recorded context. Written while the request goes in
/// (method, route, request id, then user and tenant from the identity
/// layer), read whenever an event of the request is captured.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub(crate) method: Option<Method>,
    pub(crate) route: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) tenant: Option<String>,
}

/// A handle to a request's [`Recorded`] context, put in the request's
/// extensions by the context layer.
#[derive(Debug, Clone)]
pub(crate) struct RequestScope(Arc<Mutex<Recorded>>);

impl RequestScope {
    pub(crate) fn new(recorded: Recorded) -> Self {
        Self(Arc::new(Mutex::new(recorded)))
    }

    /// Runs `f` on the recorded context. Never held across an await.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Recorded) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds the recorded context to an event of this request: what the
    /// event processor of the request's hub calls.
    pub(crate) fn apply(&self, mut event: Event<'static>) -> Event<'static> {
        self.with(|recorded| {
            if let Some(id) = &recorded.user_id {
                if event.user.as_ref().is_none_or(|user| user.id.is_none()) {
                    event.user = Some(User {
                        id: Some(id.clone()),
                        ..User::default()
                    });
                }
            }
            let mut tag = |key: &str, value: Option<&str>| {
                if let Some(value) = value {
                    event
                        .tags
                        .entry(key.to_owned())
                        .or_insert_with(|| cut(value).to_owned());
                }
            };
            tag("tenant", recorded.tenant.as_deref());
            tag("request_id", recorded.request_id.as_deref());
            tag("http.route", recorded.route.as_deref());
            tag("http.method", recorded.method.as_ref().map(Method::as_str));
            if event.transaction.is_none() {
                if let (Some(method), Some(route)) = (&recorded.method, &recorded.route) {
                    event.transaction = Some(format!("{method} {}", cut(route)));
                }
            }
        });
        event
    }
}

/// The `x-request-id` header, as tower-http's `SetRequestIdLayer` and
/// `PropagateRequestIdLayer` write it.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .map(|value| cut(value).to_owned())
}

/// At most [`MAX_TAG`] bytes, cut at a character boundary.
pub(crate) fn cut(value: &str) -> &str {
    if value.len() <= MAX_TAG {
        return value;
    }
    let mut end = MAX_TAG;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}
