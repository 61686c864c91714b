//! Scrubbing before send: secrets and personal data never leave the process.
//!
//! [`before_send`] and [`before_breadcrumb`] are the hooks
//! [`SentryConfig`](crate::SentryConfig) installs; use them directly when
//! building [`sentry::ClientOptions`] by hand. They remove credential headers
//! and cookies, keep only the user's id, and mask email addresses
//! (`[email]`), phone numbers (`[phone]`, E.164 and common national forms)
//! and tokens (`[Filtered]`) in every free-text field: messages, exception
//! values, breadcrumbs, tags, extra data, request URL, query string, body and
//! headers.
//!
//! # Example
//!
//! ```
//! use sentry::ClientOptions;
//!
//! let options = ClientOptions {
//!     before_send: Some(rampart_sentry::scrub::before_send()),
//!     before_breadcrumb: Some(rampart_sentry::scrub::before_breadcrumb()),
//!     send_default_pii: false,
//!     ..ClientOptions::default()
//! };
//! # let _ = options;
//! ```
//!
//! Scrubbing is the last step before the transport. Performance
//! transactions do not pass through `before_send` in this version of the
//! Sentry SDK: [`SentryContextLayer`](crate::SentryContextLayer) gives each
//! sampled transaction request data scrubbed the same way and names it by
//! the route template, or `<unmatched>`, never the raw path.

pub(crate) mod event;
mod keys;
mod pair;
mod phone;
mod query;
mod text;

use std::sync::Arc;

use sentry::protocol::{Breadcrumb, Event};

pub use self::{
    event::{scrub_breadcrumb, scrub_event},
    keys::{SENSITIVE_HEADERS, is_sensitive_key},
    query::scrub_query,
    text::{EMAIL_MASK, FILTERED, PHONE_MASK, scrub_text},
};

/// The hook type of [`sentry::ClientOptions::before_send`].
pub type BeforeSend = Arc<dyn Fn(Event<'static>) -> Option<Event<'static>> + Send + Sync>;
/// The hook type of [`sentry::ClientOptions::before_breadcrumb`].
pub type BeforeBreadcrumb = Arc<dyn Fn(Breadcrumb) -> Option<Breadcrumb> + Send + Sync>;

/// A `before_send` hook that runs [`scrub_event`] on every event.
///
/// # Example
///
/// ```
/// use sentry::protocol::Event;
///
/// let hook = rampart_sentry::scrub::before_send();
/// let mut event = Event::default();
/// event.message = Some("call 555-123-4567".into());
/// assert_eq!(hook(event).unwrap().message.as_deref(), Some("call [phone]"));
/// ```
pub fn before_send() -> BeforeSend {
    Arc::new(|event| Some(scrub_event(event)))
}

/// A `before_breadcrumb` hook that runs [`scrub_breadcrumb`] on every
/// breadcrumb.
///
/// # Example
///
/// ```
/// use sentry::protocol::Breadcrumb;
///
/// let hook = rampart_sentry::scrub::before_breadcrumb();
/// let crumb = Breadcrumb { message: Some("login bob@example.org".into()), ..Default::default() };
/// assert_eq!(hook(crumb).unwrap().message.as_deref(), Some("login [email]"));
/// ```
pub fn before_breadcrumb() -> BeforeBreadcrumb {
    Arc::new(|crumb| Some(scrub_breadcrumb(crumb)))
}
