//! The route template of a request, for grouping and tags.

use http::Extensions;

use crate::RouteLabel;

/// What stands for the route of a request no route matched (a 404 of the
/// router, a layer outside it): never its raw path, which may hold a token.
pub(crate) const UNMATCHED: &str = "<unmatched>";

/// The route template in `extensions`, if any.
pub(crate) fn route_of(extensions: &Extensions) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = extensions.get::<axum::extract::MatchedPath>() {
        return Some(matched.as_str());
    }
    extensions.get::<RouteLabel>().map(RouteLabel::as_str)
}
