//! The route template of a request, for grouping and tags.

use std::borrow::Cow;

use http::Extensions;

/// The route template a request matched (`/calls/{id}`), as a request
/// extension. Set it in the router of a stack that is not axum (or where
/// axum's `MatchedPath` is not in the request yet); the layers read it as
/// the `http.route` tag. With the `axum` feature, `MatchedPath` is read
/// first.
///
/// Never put the raw path here: `/calls/8f3c...` would make every request
/// its own issue in Sentry.
///
/// # Example
///
/// ```
/// use http::Request;
/// use rampart_sentry::RouteLabel;
///
/// let mut request = Request::new(());
/// request.extensions_mut().insert(RouteLabel::new("/calls/{id}"));
/// assert_eq!(request.extensions().get::<RouteLabel>().unwrap().as_str(), "/calls/{id}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteLabel(Cow<'static, str>);

impl RouteLabel {
    /// A route template.
    pub fn new(route: impl Into<Cow<'static, str>>) -> Self {
        Self(route.into())
    }

    /// The template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The route template in `extensions`, if any.
pub(crate) fn route_of(extensions: &Extensions) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = extensions.get::<axum::extract::MatchedPath>() {
        return Some(matched.as_str());
    }
    extensions.get::<RouteLabel>().map(RouteLabel::as_str)
}
