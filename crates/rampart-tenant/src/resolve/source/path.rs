//! `/t/{tenant}/...`: the first path segment after a fixed prefix.

use crate::{TenantId, TenantIdError, resolve::source::Found};

/// The prefix, which starts and ends with `/` (checked by the builder).
#[derive(Debug, Clone)]
pub(crate) struct PathSource {
    prefix: Box<str>,
}

impl PathSource {
    /// `None` when `prefix` does not start and end with `/` or is `/` alone.
    pub(crate) fn new(prefix: &str) -> Option<Self> {
        (prefix.len() >= 3
            && prefix.starts_with('/')
            && prefix.ends_with('/')
            && !prefix.contains("//")
            && prefix.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| Self {
            prefix: prefix.into(),
        })
    }

    pub(crate) fn find(&self, path: &str) -> Found {
        let Some(rest) = path.strip_prefix(&*self.prefix) else {
            return Found::Nothing;
        };
        let segment = rest.split('/').next().unwrap_or_default();
        if segment.is_empty() {
            return Found::Invalid(TenantIdError::Empty);
        }
        // Percent-encoded bytes stay encoded: `%` is not allowed, so an
        // encoded id is refused rather than decoded into something else.
        match TenantId::new(segment) {
            Ok(id) => Found::Tenant(id),
            Err(err) => Found::Invalid(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(path: &str) -> Result<Option<String>, ()> {
        match PathSource::new("/t/").unwrap().find(path) {
            Found::Nothing => Ok(None),
            Found::Tenant(id) => Ok(Some(id.to_string())),
            Found::Invalid(_) => Err(()),
        }
    }

    #[test]
    fn takes_the_segment_after_the_prefix() {
        assert_eq!(find("/t/acme/calls"), Ok(Some("acme".into())));
        assert_eq!(find("/t/acme"), Ok(Some("acme".into())));
        assert_eq!(find("/t/acme/"), Ok(Some("acme".into())));
        assert_eq!(find("/calls"), Ok(None));
        assert_eq!(find("/t"), Ok(None));
        assert_eq!(find("/tenants/acme"), Ok(None));
        assert_eq!(find("/t/"), Err(()));
        assert_eq!(find("/t//calls"), Err(()));
        assert_eq!(find("/t/ac%20me/calls"), Err(()));
        assert_eq!(find("/t/..%2Fother/calls"), Err(()));
    }

    #[test]
    fn prefix_is_checked() {
        for bad in ["", "/", "t/", "/t", "//", "/a//b/", "/t x/"] {
            assert!(PathSource::new(bad).is_none(), "{bad:?}");
        }
        assert!(PathSource::new("/orgs/").is_some());
        assert!(PathSource::new("/api/t/").is_some());
    }
}
