//! Responses made from cache entries, and the `Cache-Status` values.

use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use http_body::Body;

use crate::{
    CacheBody,
    layer::entry::{CachedResponse, if_none_match},
};

/// `Cache-Status` ([RFC 9211]).
///
/// [RFC 9211]: https://www.rfc-editor.org/rfc/rfc9211
pub(crate) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// What `Cache-Status` says about a response.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Status<'a> {
    /// Fresh from the cache, with seconds left.
    Hit(u64),
    /// Past its TTL by this many seconds, and why it was served.
    Stale(u64, &'static str),
    /// Forwarded (`fwd=`), stored or not, and a detail.
    Forward {
        fwd: &'static str,
        stored: bool,
        collapsed: bool,
        detail: Option<&'a str>,
    },
    /// Not looked up, and why.
    Bypass(&'static str),
}

impl Status<'_> {
    pub(crate) fn value(self) -> HeaderValue {
        if let Self::Hit(ttl) = self {
            // The hit path's value, without the formatting machinery.
            let mut text = Vec::with_capacity(40);
            text.extend_from_slice(b"rampart; hit; ttl=");
            push_u64(&mut text, ttl);
            return HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
                .unwrap_or_else(|_| HeaderValue::from_static("rampart; hit"));
        }
        let text = match self {
            Self::Hit(ttl) => format!("rampart; hit; ttl={ttl}"),
            Self::Stale(over, why) => format!("rampart; hit; ttl=-{over}; detail={why}"),
            Self::Forward {
                fwd,
                stored,
                collapsed,
                detail,
            } => {
                let mut text = format!("rampart; fwd={fwd}");
                if stored {
                    text.push_str("; stored");
                }
                if collapsed {
                    text.push_str("; collapsed");
                }
                if let Some(detail) = detail {
                    text.push_str("; detail=");
                    text.push_str(detail);
                }
                text
            }
            Self::Bypass(why) => format!("rampart; fwd=bypass; detail={why}"),
        };
        // Shared, not copied: the text is the value's buffer.
        HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
            .unwrap_or_else(|_| HeaderValue::from_static("rampart"))
    }
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is below 10.
        digits[at] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Headers a 304 carries (RFC 9110 §15.4.5).
const NOT_MODIFIED_HEADERS: [HeaderName; 6] = [
    header::CACHE_CONTROL,
    header::CONTENT_LOCATION,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::VARY,
];

/// The response for `entry`: a 304 when `validators` (the request's
/// headers, or `None` when it has no `If-None-Match`) has a matching
/// `If-None-Match`, no body for `HEAD`, with `Age` and `Cache-Status`.
pub(crate) fn from_entry<B: Body>(
    entry: &CachedResponse,
    validators: Option<&HeaderMap>,
    head: bool,
    status: Status<'_>,
    now_ms: u64,
) -> Response<CacheBody<B>> {
    let not_modified = validators.is_some_and(|headers| {
        headers.contains_key(header::IF_NONE_MATCH)
            && entry
                .etag()
                .is_some_and(|etag| if_none_match(headers, etag))
    });
    if !not_modified && let Status::Hit(left) = status {
        let body = if head {
            CacheBody::empty()
        } else {
            CacheBody::full(entry.body.clone())
        };
        let mut response = Response::new(body);
        *response.status_mut() = entry.status;
        *response.headers_mut() = entry.hit_headers(entry.age(now_ms), left);
        return response;
    }
    let mut response = if not_modified {
        let mut response = Response::new(CacheBody::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        for name in NOT_MODIFIED_HEADERS {
            for value in entry.headers.get_all(&name) {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
        response
    } else {
        let body = if head {
            CacheBody::empty()
        } else {
            CacheBody::full(entry.body.clone())
        };
        let mut response = Response::new(body);
        *response.status_mut() = entry.status;
        *response.headers_mut() = entry.headers.clone();
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::AGE, HeaderValue::from(entry.age(now_ms)));
    headers.insert(CACHE_STATUS, status.value());
    response
}
