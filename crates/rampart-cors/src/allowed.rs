//! The compiled allow-list: a hash set of exact origins and a tree of host
//! labels for patterns, so that one lookup costs the same with 2 entries or
//! 10,000.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use http::HeaderValue;

use crate::{
    Origin, OriginPattern,
    origin::{Parts, Scheme},
    pattern::PortRule,
};

/// A set of allowed origins, compiled for lookup: exact origins in a hash set
/// (one hash of the header's bytes), patterns in a tree keyed by host labels
/// from the right (one step per label of the request's host).
///
/// Both structures are built once from configuration and never grow with
/// requests. They hash with `foldhash` (randomly seeded per map): a request
/// can only look keys up, never add one, so a faster hash than SipHash costs
/// no flooding resistance worth having here.
///
/// # Example
///
/// ```
/// use rampart_cors::AllowedOrigins;
///
/// let allowed = AllowedOrigins::new(
///     ["https://example.com".parse().unwrap()],
///     ["https://*.example.com".parse().unwrap()],
/// );
/// assert!(allowed.matches(b"https://example.com"));
/// assert!(allowed.matches(b"https://app.example.com"));
/// assert!(!allowed.matches(b"https://example.com.evil.com"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    /// Each exact origin with its `Access-Control-Allow-Origin` value, made
    /// once: answering clones a shared value instead of copying the request's.
    exact: HashMap<Box<[u8]>, HeaderValue, RandomState>,
    tree: Node,
    has_patterns: bool,
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: HashMap<Box<str>, Self, RandomState>,
    /// Patterns whose base host ends at this node.
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    scheme: Scheme,
    subdomains: bool,
    port: PortRule,
}

impl AllowedOrigins {
    /// Compiles exact origins and patterns.
    pub fn new(
        origins: impl IntoIterator<Item = Origin>,
        patterns: impl IntoIterator<Item = OriginPattern>,
    ) -> Self {
        let mut this = Self {
            exact: origins
                .into_iter()
                .filter_map(|o| {
                    // An `Origin` is visible ASCII, always a valid header value.
                    let value = HeaderValue::from_str(o.as_str()).ok()?;
                    Some((Box::from(o.as_str().as_bytes()), value))
                })
                .collect(),
            ..Self::default()
        };
        for pattern in patterns {
            this.insert_pattern(&pattern);
        }
        this
    }

    fn insert_pattern(&mut self, pattern: &OriginPattern) {
        let mut node = &mut self.tree;
        for label in pattern.base_host().rsplit('.') {
            node = node.children.entry(label.into()).or_default();
        }
        let rule = Rule {
            scheme: pattern.scheme(),
            subdomains: pattern.admits_subdomains(),
            port: pattern.port_rule(),
        };
        if !node.rules.contains(&rule) {
            node.rules.push(rule);
        }
        self.has_patterns = true;
    }

    /// Whether the `Origin` header value `origin` is allowed. Bytes that are
    /// not an origin in a browser's serialization never are.
    pub fn matches(&self, origin: &[u8]) -> bool {
        if self.exact.contains_key(origin) {
            return true;
        }
        self.has_patterns && self.matches_pattern(origin)
    }

    /// The precomputed header value when `origin` is an exact entry.
    pub(crate) fn exact_value(&self, origin: &[u8]) -> Option<&HeaderValue> {
        self.exact.get(origin)
    }

    fn matches_pattern(&self, origin: &[u8]) -> bool {
        let Ok(parts) = Parts::parse(origin, false) else {
            return false;
        };
        let mut remaining = parts.host.split('.').count();
        let mut node = &self.tree;
        for label in parts.host.rsplit('.') {
            let Some(child) = node.children.get(label) else {
                return false;
            };
            node = child;
            remaining -= 1;
            let admitted = node.rules.iter().any(|rule| {
                rule.scheme == parts.scheme
                    && rule.port.admits(parts.port)
                    && if rule.subdomains {
                        remaining > 0
                    } else {
                        remaining == 0
                    }
            });
            if admitted {
                return true;
            }
        }
        false
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && !self.has_patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(origins: &[&str], patterns: &[&str]) -> AllowedOrigins {
        AllowedOrigins::new(
            origins.iter().map(|o| o.parse().unwrap()),
            patterns.iter().map(|p| p.parse().unwrap()),
        )
    }

    #[test]
    fn exact_origins_match_byte_for_byte() {
        let a = allowed(&["https://example.com", "http://localhost:5173"], &[]);
        assert!(a.matches(b"https://example.com"));
        assert!(a.matches(b"http://localhost:5173"));
        assert!(!a.matches(b"https://example.com/"));
        assert!(!a.matches(b"https://EXAMPLE.com"));
        assert!(!a.matches(b"http://example.com"));
        assert!(!a.matches(b"http://localhost:5174"));
        assert!(!a.matches(b"null"));
        assert!(!a.is_empty());
        assert!(AllowedOrigins::default().is_empty());
    }

    #[test]
    fn tree_agrees_with_each_pattern() {
        let patterns = [
            "https://*.example.com",
            "http://localhost:*",
            "https://*.b.example.org:8443",
            "https://*.a.example.org:*",
        ];
        let a = allowed(&[], &patterns);
        let candidates = [
            "https://x.example.com",
            "https://x.y.example.com",
            "https://example.com",
            "https://example.com.evil.com",
            "https://evil-example.com",
            "http://localhost",
            "http://localhost:1",
            "https://localhost:1",
            "http://x.localhost:1",
            "https://x.b.example.org:8443",
            "https://x.b.example.org",
            "https://b.example.org:8443",
            "https://x.a.example.org",
            "https://x.a.example.org:1",
            "https://a.example.org",
            "https://example.org",
        ];
        for c in candidates {
            let expected = patterns
                .iter()
                .any(|p| p.parse::<OriginPattern>().unwrap().matches(c));
            assert_eq!(a.matches(c.as_bytes()), expected, "{c}");
        }
    }

    #[test]
    fn nested_patterns_keep_their_own_rules() {
        let a = allowed(&[], &["https://*.example.com", "http://*.a.example.com"]);
        assert!(a.matches(b"http://x.a.example.com"));
        assert!(a.matches(b"https://x.a.example.com"));
        assert!(!a.matches(b"http://a.example.com"));
        assert!(!a.matches(b"http://x.example.com"));
    }
}
