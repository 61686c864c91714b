//! `acme.app.example.com`: the label in front of a configured base domain.

use http::{Request, header};

use crate::{TenantId, resolve::source::Found};

/// The base domain, lowercase, and the labels that are not tenants.
#[derive(Debug, Clone)]
pub(crate) struct SubdomainSource {
    /// `.app.example.com`, with the leading dot.
    suffix: Box<str>,
    reserved: Vec<Box<str>>,
}

/// Whether `domain` is a host name: dot-separated labels of 1 to 63 ASCII
/// letters, digits and `-`, not starting or ending with `-`.
pub(crate) fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl SubdomainSource {
    /// `None` when `base` is not a host name.
    pub(crate) fn new(base: &str, reserved: Vec<Box<str>>) -> Option<Self> {
        let base = base.trim_end_matches('.').to_ascii_lowercase();
        valid_domain(&base).then(|| Self {
            suffix: format!(".{base}").into(),
            reserved,
        })
    }

    pub(crate) fn set_reserved(&mut self, reserved: Vec<Box<str>>) {
        self.reserved = reserved;
    }

    /// The host: the URI's authority (HTTP/2, absolute-form), else `Host`.
    fn host<B>(request: &Request<B>) -> Option<&str> {
        if let Some(authority) = request.uri().authority() {
            return Some(authority.host());
        }
        let host = request.headers().get(header::HOST)?.to_str().ok()?;
        if host.starts_with('[') {
            return None; // an IPv6 literal is no subdomain
        }
        Some(host.rsplit_once(':').map_or(host, |(host, _port)| host))
    }

    pub(crate) fn find<B>(&self, request: &Request<B>) -> Found {
        match Self::host(request) {
            Some(host) => self.find_in_host(host),
            None => Found::Nothing,
        }
    }

    pub(crate) fn find_in_host(&self, host: &str) -> Found {
        let host = host.strip_suffix('.').unwrap_or(host);
        let suffix = &*self.suffix;
        if host.len() <= suffix.len() {
            return Found::Nothing;
        }
        let split = host.len() - suffix.len();
        let (Some(label), Some(tail)) = (host.get(..split), host.get(split..)) else {
            return Found::Nothing; // not on a char boundary: not our domain
        };
        if !tail.eq_ignore_ascii_case(suffix) || label.contains('.') {
            // Another domain, or a deeper name (`a.b.app.example.com`).
            return Found::Nothing;
        }
        if self.reserved.iter().any(|r| r.eq_ignore_ascii_case(label)) {
            return Found::Nothing;
        }
        // Host names are case-insensitive: `ACME.app...` is `acme`.
        let id = if label.bytes().any(|b| b.is_ascii_uppercase()) {
            TenantId::new(&label.to_ascii_lowercase())
        } else {
            TenantId::new(label)
        };
        match id {
            Ok(id) => Found::Tenant(id),
            Err(err) => Found::Invalid(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(host: &str) -> Result<Option<String>, ()> {
        let source = SubdomainSource::new("App.Example.com", vec!["www".into()]).unwrap();
        match source.find_in_host(host) {
            Found::Nothing => Ok(None),
            Found::Tenant(id) => Ok(Some(id.to_string())),
            Found::Invalid(_) => Err(()),
        }
    }

    #[test]
    fn takes_the_label_in_front_of_the_base() {
        assert_eq!(find("acme.app.example.com"), Ok(Some("acme".into())));
        assert_eq!(find("ACME.APP.example.COM"), Ok(Some("acme".into())));
        assert_eq!(find("acme.app.example.com."), Ok(Some("acme".into())));
        assert_eq!(find("app.example.com"), Ok(None));
        assert_eq!(find("www.app.example.com"), Ok(None));
        assert_eq!(find("a.b.app.example.com"), Ok(None));
        assert_eq!(find("acme.app.example.org"), Ok(None));
        assert_eq!(find("acmeapp.example.com"), Ok(None));
        assert_eq!(find("evil.com"), Ok(None));
        assert_eq!(find(".app.example.com"), Ok(None));
        assert_eq!(find("é.app.example.com"), Err(()));
        assert_eq!(find("éapp.example.com"), Ok(None));
        assert_eq!(find("a_b.app.example.com"), Ok(Some("a_b".into())));
    }

    #[test]
    fn reads_authority_then_host() {
        let source = SubdomainSource::new("app.example.com", Vec::new()).unwrap();
        let request = Request::get("https://acme.app.example.com/x")
            .body(())
            .unwrap();
        assert!(matches!(source.find(&request), Found::Tenant(id) if id.as_str() == "acme"));
        let request = Request::get("/x")
            .header("host", "beta.app.example.com:8443")
            .body(())
            .unwrap();
        assert!(matches!(source.find(&request), Found::Tenant(id) if id.as_str() == "beta"));
        let request = Request::get("/x")
            .header("host", "[::1]:80")
            .body(())
            .unwrap();
        assert!(matches!(source.find(&request), Found::Nothing));
        let request = Request::get("/x").body(()).unwrap();
        assert!(matches!(source.find(&request), Found::Nothing));
    }

    #[test]
    fn base_must_be_a_host_name() {
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "a b.com",
            "*.example.com",
            "é.com",
        ] {
            assert!(SubdomainSource::new(bad, Vec::new()).is_none(), "{bad:?}");
        }
    }
}
