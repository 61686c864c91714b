//! A route, compiled: its path pattern as segments, its tags as templates.

use std::{sync::Arc, time::Duration};

use http::HeaderName;

use crate::{
    CacheConfigIssue, CacheRoute, CacheScope,
    error::{MAX_TAG_LEN, check_tag},
    stats::NamespaceCounters,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A `{name}`: any one non-empty segment.
    Param,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TagPart {
    Literal(String),
    Tenant,
    Principal,
    /// The n-th `{name}` of the path.
    Param(usize),
}

#[derive(Debug)]
pub(crate) struct CompiledRoute {
    pub(crate) name: String,
    segments: Vec<Segment>,
    /// The pattern ends in `/*`.
    rest: bool,
    /// The whole path, for a pattern of literal segments only: one
    /// comparison instead of a walk by segment.
    exact: Option<String>,
    pub(crate) ttl: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    tags: Vec<Vec<TagPart>>,
    pub(crate) scope: CacheScope,
    pub(crate) vary: Vec<HeaderName>,
    /// Set when the layer is built (the store's stats).
    pub(crate) counters: Option<Arc<NamespaceCounters>>,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `{name}` → `Some(name)`.
fn placeholder(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

impl CompiledRoute {
    pub(crate) fn compile(route: &CacheRoute, issues: &mut Vec<CacheConfigIssue>) -> Option<Self> {
        let before = issues.len();
        if !valid_name(&route.name) {
            issues.push(CacheConfigIssue::InvalidName {
                name: route.name.clone(),
            });
        }
        let mut path_issue = |reason: &'static str| {
            issues.push(CacheConfigIssue::InvalidPath {
                route: route.name.clone(),
                path: route.path.clone(),
                reason,
            });
        };
        let mut segments = Vec::new();
        let mut params: Vec<&str> = Vec::new();
        let mut rest = false;
        match route.path.strip_prefix('/') {
            None => path_issue("does not start with `/`"),
            Some("") => {}
            Some(path) => {
                let parts: Vec<&str> = path.split('/').collect();
                for (i, part) in parts.iter().enumerate() {
                    if *part == "*" && i + 1 == parts.len() {
                        rest = true;
                    } else if part.is_empty() {
                        path_issue("has an empty segment");
                    } else if let Some(name) = placeholder(part) {
                        if name.is_empty() || name.contains(['{', '}']) {
                            path_issue("has a malformed `{name}` segment");
                        } else if params.contains(&name) {
                            path_issue("names a parameter twice");
                        } else {
                            params.push(name);
                            segments.push(Segment::Param);
                        }
                    } else if part.contains(['{', '}', '*', '?', '#']) {
                        path_issue("has `{`, `}`, `*`, `?` or `#` inside a segment");
                    } else {
                        segments.push(Segment::Literal((*part).to_owned()));
                    }
                }
            }
        }
        if route.ttl.is_zero() {
            issues.push(CacheConfigIssue::ZeroTtl {
                route: route.name.clone(),
            });
        }
        let mut tags = Vec::new();
        for tag in &route.tags {
            match compile_tag(tag, &params) {
                Ok(parts) => tags.push(parts),
                Err(reason) => issues.push(CacheConfigIssue::InvalidTag {
                    route: route.name.clone(),
                    tag: tag.clone(),
                    reason,
                }),
            }
        }
        let mut vary = Vec::new();
        for name in &route.vary {
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(header) => vary.push(header),
                Err(_) => issues.push(CacheConfigIssue::InvalidVary {
                    route: route.name.clone(),
                    value: name.clone(),
                }),
            }
        }
        let literal_only = !rest && segments.iter().all(|s| matches!(s, Segment::Literal(_)));
        let exact = literal_only.then(|| {
            let mut path = String::new();
            for segment in &segments {
                if let Segment::Literal(text) = segment {
                    path.push('/');
                    path.push_str(text);
                }
            }
            if path.is_empty() {
                path.push('/');
            }
            path
        });
        (issues.len() == before).then(|| Self {
            name: route.name.clone(),
            segments,
            rest,
            exact,
            ttl: route.ttl,
            stale_while_revalidate: route.stale_while_revalidate,
            stale_if_error: route.stale_if_error,
            tags,
            scope: route.scope,
            vary,
            counters: None,
        })
    }

    /// The values of the path's parameters if `path` matches.
    pub(crate) fn matches<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        if let Some(exact) = &self.exact {
            return (path == exact).then(Vec::new);
        }
        let mut parts = path.strip_prefix('/')?.split('/');
        let mut params = Vec::new();
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Param if !part.is_empty() => params.push(part),
                _ => return None,
            }
        }
        match parts.next() {
            // `/campaigns` for `/campaigns`, but `/` has one empty part.
            None if !self.rest => Some(params),
            None => None,
            Some("") if self.segments.is_empty() && !self.rest => {
                parts.next().is_none().then_some(params)
            }
            Some(_) if self.rest => Some(params),
            Some(_) => None,
        }
    }

    /// Whether [`Self::render_tags`] gives tags, without making them (the
    /// hit path needs none).
    pub(crate) fn tags_valid(
        &self,
        params: &[&str],
        tenant: Option<&str>,
        principal: Option<&str>,
    ) -> bool {
        self.tags.iter().all(|parts| {
            let mut len = 0;
            for part in parts {
                let text = match part {
                    TagPart::Literal(text) => text.as_str(),
                    TagPart::Tenant => tenant.unwrap_or(""),
                    TagPart::Principal => principal.unwrap_or(""),
                    TagPart::Param(i) => params.get(*i).copied().unwrap_or(""),
                };
                if text.bytes().any(|b| matches!(b, b'\t' | b'\n' | 0)) {
                    return false;
                }
                len += text.len();
            }
            (1..=MAX_TAG_LEN).contains(&len)
        })
    }

    /// The request's tags; `None` when one is not a valid tag (a tenant id
    /// with a newline, say): such a request bypasses the cache.
    pub(crate) fn render_tags(
        &self,
        params: &[&str],
        tenant: Option<&str>,
        principal: Option<&str>,
    ) -> Option<Vec<String>> {
        self.tags
            .iter()
            .map(|parts| {
                let mut tag = String::new();
                for part in parts {
                    match part {
                        TagPart::Literal(text) => tag.push_str(text),
                        TagPart::Tenant => tag.push_str(tenant.unwrap_or("")),
                        TagPart::Principal => tag.push_str(principal.unwrap_or("")),
                        TagPart::Param(i) => tag.push_str(params.get(*i).copied().unwrap_or("")),
                    }
                }
                check_tag(&tag).ok().map(|()| tag)
            })
            .collect()
    }
}

fn compile_tag(tag: &str, params: &[&str]) -> Result<Vec<TagPart>, String> {
    let mut parts = Vec::new();
    let mut rest = tag;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(TagPart::Literal(rest[..open].to_owned()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err("has a `{` without `}`".into());
        };
        let name = &rest[open + 1..open + close];
        parts.push(match name {
            "tenant" => TagPart::Tenant,
            "principal" => TagPart::Principal,
            _ => match params.iter().position(|p| *p == name) {
                Some(i) => TagPart::Param(i),
                None => {
                    return Err(format!(
                        "names {{{name}}}, which is neither {{tenant}}, {{principal}} nor a parameter of the path"
                    ));
                }
            },
        });
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err("has a `}` without `{`".into());
    }
    if !rest.is_empty() {
        parts.push(TagPart::Literal(rest.to_owned()));
    }
    if parts.is_empty() {
        return Err("is empty".into());
    }
    // The literal text must make a valid tag on its own.
    let literal: String = parts
        .iter()
        .map(|p| match p {
            TagPart::Literal(text) => text.as_str(),
            _ => "x",
        })
        .collect();
    check_tag(&literal)
        .map_err(|_| "has a tab, newline or NUL, or is over 256 bytes".to_owned())?;
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> CompiledRoute {
        let mut issues = Vec::new();
        let compiled = CompiledRoute::compile(&CacheRoute::new("r", path), &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        compiled.unwrap()
    }

    #[test]
    fn paths_match_by_segment() {
        let r = route("/campaigns/{id}");
        assert_eq!(r.matches("/campaigns/7"), Some(vec!["7"]));
        assert_eq!(r.matches("/campaigns/"), None);
        assert_eq!(r.matches("/campaigns/7/script"), None);
        assert_eq!(r.matches("/campaigns"), None);
        let root = route("/");
        assert_eq!(root.matches("/"), Some(vec![]));
        assert_eq!(root.matches("/x"), None);
        let rest = route("/assets/*");
        assert!(rest.matches("/assets/").is_some());
        assert!(rest.matches("/assets/a/b").is_some());
        assert!(rest.matches("/assets").is_none());
        assert!(route("/campaigns").matches("/campaigns/").is_none());
        let literal = route("/api/v1/campaigns");
        assert_eq!(literal.matches("/api/v1/campaigns"), Some(vec![]));
        for other in [
            "/api/v1/campaigns/",
            "/api/v1",
            "/api/v1/campaignsx",
            "api/v1/campaigns",
            "",
        ] {
            assert!(literal.matches(other).is_none(), "{other}");
        }
        assert!(root.matches("").is_none());
    }

    #[test]
    fn tags_render_from_the_request() {
        let mut issues = Vec::new();
        let r = CompiledRoute::compile(
            &CacheRoute::new("r", "/c/{id}")
                .tag("c:{tenant}:{id}")
                .tag("u:{principal}"),
            &mut issues,
        )
        .unwrap();
        assert_eq!(
            r.render_tags(&["7"], Some("acme"), Some("u1")).unwrap(),
            ["c:acme:7", "u:u1"]
        );
        assert!(r.render_tags(&["7"], Some("a\nb"), None).is_none());
        let long = "t".repeat(300);
        for (id, tenant, principal) in [
            ("7", Some("acme"), Some("u1")),
            ("7", Some("a\nb"), None),
            ("7", None, Some("u\t")),
            ("7", Some(long.as_str()), None),
            ("\0", Some("acme"), Some("u1")),
        ] {
            assert_eq!(
                r.tags_valid(&[id], tenant, principal),
                r.render_tags(&[id], tenant, principal).is_some(),
                "{id:?} {tenant:?} {principal:?}"
            );
        }
        for (tag, bad) in [
            ("{nope}", true),
            ("a{", true),
            ("a}", true),
            ("", true),
            ("ok", false),
        ] {
            let mut issues = Vec::new();
            CompiledRoute::compile(&CacheRoute::new("r", "/c/{id}").tag(tag), &mut issues);
            assert_eq!(!issues.is_empty(), bad, "{tag:?}");
        }
    }
}
