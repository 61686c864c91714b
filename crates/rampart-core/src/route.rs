//! The route template of a request, as a request extension that every
//! Rampart layer reads.

use std::{
    fmt,
    hash::{Hash, Hasher},
    sync::Arc,
};

/// The route template a request matched (`/calls/{id}`), as a request
/// extension: the router or the app inserts it once, and every layer that
/// groups by route reads it. rampart-metrics labels its series with it
/// (`route`), rampart-sentry tags events with it (`http.route`); both
/// re-export this type as their own `RouteLabel`.
///
/// Insert it in the request's extensions before the request reaches the
/// layers that read it (a router that is not axum, or a `map_request` in
/// front of the stack); with axum and those crates' `axum` feature, axum's
/// `MatchedPath` is read first and this is the fallback.
///
/// Use templates (`/users/{id}`), never raw paths: every distinct value is a
/// new series in Prometheus and a new issue group in Sentry.
///
/// A label made [`from_static`](Self::from_static) costs no allocation and
/// its clones copy a pointer; one made [`new`](Self::new) is an `Arc<str>`
/// that its clones share.
///
/// # Example
///
/// ```
/// use http::Request;
/// use rampart_core::RouteLabel;
///
/// let mut request = Request::get("/users/42").body(()).unwrap();
/// request.extensions_mut().insert(RouteLabel::from_static("/users/{id}"));
/// let label = request.extensions().get::<RouteLabel>().unwrap();
/// assert_eq!(label.as_str(), "/users/{id}");
/// // Where it came from does not matter for equality.
/// assert_eq!(*label, RouteLabel::new(String::from("/users/{id}")));
/// ```
#[derive(Clone)]
pub struct RouteLabel(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl RouteLabel {
    /// A label from a string known at compile time (no allocation, cheap
    /// clone).
    ///
    /// ```
    /// const CALLS: rampart_core::RouteLabel = rampart_core::RouteLabel::from_static("/calls");
    /// assert_eq!(CALLS.as_str(), "/calls");
    /// ```
    pub const fn from_static(route: &'static str) -> Self {
        Self(Repr::Static(route))
    }

    /// A label from any string (`&str`, `String`, `Cow<str>`, `Box<str>`,
    /// `Arc<str>`); clones share it.
    ///
    /// ```
    /// let label = rampart_core::RouteLabel::new(format!("/{}/{{id}}", "calls"));
    /// assert_eq!(label.as_str(), "/calls/{id}");
    /// ```
    pub fn new(route: impl Into<Arc<str>>) -> Self {
        Self(Repr::Shared(route.into()))
    }

    /// The template.
    ///
    /// ```
    /// assert_eq!(rampart_core::RouteLabel::new("/calls/{id}").as_str(), "/calls/{id}");
    /// ```
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl fmt::Debug for RouteLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RouteLabel").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RouteLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for RouteLabel {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl Hash for RouteLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        borrow::Cow,
        collections::hash_map::DefaultHasher,
        hash::{Hash, Hasher},
        sync::Arc,
    };

    use super::RouteLabel;

    fn hash(label: &RouteLabel) -> u64 {
        let mut hasher = DefaultHasher::new();
        label.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn every_source_of_the_same_template_is_equal_and_hashes_alike() {
        let labels = [
            RouteLabel::from_static("/calls/{id}"),
            RouteLabel::new("/calls/{id}"),
            RouteLabel::new(String::from("/calls/{id}")),
            RouteLabel::new(Cow::Borrowed("/calls/{id}")),
            RouteLabel::new(Arc::<str>::from("/calls/{id}")),
            RouteLabel::new(Box::<str>::from("/calls/{id}")),
        ];
        for label in &labels {
            assert_eq!(label, &labels[0]);
            assert_eq!(hash(label), hash(&labels[0]));
            assert_eq!(label.to_string(), "/calls/{id}");
            assert_eq!(label.as_ref(), "/calls/{id}");
            assert_eq!(format!("{label:?}"), r#"RouteLabel("/calls/{id}")"#);
        }
        assert_ne!(labels[0], RouteLabel::from_static("/calls"));
    }

    #[test]
    fn clones_share_the_string() {
        let label = RouteLabel::new(String::from("/users/{id}"));
        let copy = label.clone();
        assert!(std::ptr::eq(label.as_str(), copy.as_str()));
    }

    #[test]
    fn any_text_is_kept_as_given() {
        for text in ["", " ", "/ünïcode/{id}", "/odd/\"quoted\"\\path\n", "\0"] {
            assert_eq!(RouteLabel::new(text).as_str(), text);
        }
    }
}
