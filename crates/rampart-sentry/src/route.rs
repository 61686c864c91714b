//! The route template of a request, for grouping and tags.

use http::Extensions;

use crate::RouteLabel;

/// The route template in `extensions`, if any.
pub(crate) fn route_of(extensions: &Extensions) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = extensions.get::<axum::extract::MatchedPath>() {
        return Some(matched.as_str());
    }
    extensions.get::<RouteLabel>().map(RouteLabel::as_str)
}
