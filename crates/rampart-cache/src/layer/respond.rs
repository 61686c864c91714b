//! Responses made from cache entries, and the `Cache-Status` values.

use std::sync::OnceLock;

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

/// Seconds up to which the values of a fresh hit's `Age` and
/// `Cache-Status` come from [`HitValues`] (an hour: four of the five
/// classes of [`Namespace`](crate::Namespace) presets).
const HIT_VALUES_UP_TO: u64 = 3600;

/// `rampart; hit; ttl=0rampart; hit; ttl=1...`, made once a process: a
/// value borrowed from it is copied without an atomic count and dropped
/// without another (a hit copies its `Age` and `Cache-Status` values; one
/// made for it is a count to raise and one to drop, each time).
struct HitValues {
    text: String,
    /// Where each `ttl=n` value starts; the next one's start is its end.
    starts: Vec<u32>,
}

impl HitValues {
    fn get() -> &'static Self {
        static VALUES: OnceLock<HitValues> = OnceLock::new();
        VALUES.get_or_init(|| {
            let mut text = String::with_capacity(80 * 1024);
            let mut starts = Vec::with_capacity(HIT_VALUES_UP_TO as usize + 2);
            let mut digits = Vec::with_capacity(4);
            for n in 0..=HIT_VALUES_UP_TO {
                starts.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
                text.push_str(HIT_PREFIX);
                digits.clear();
                push_u64(&mut digits, n);
                text.extend(digits.iter().map(|&d| char::from(d)));
            }
            starts.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
            Self { text, starts }
        })
    }

    /// `rampart; hit; ttl=n`, and its end: `n`.
    fn status_and_age(&'static self, n: u64) -> Option<(&'static str, &'static str)> {
        let at = usize::try_from(n).ok()?;
        let start = usize::try_from(*self.starts.get(at)?).ok()?;
        let end = usize::try_from(*self.starts.get(at + 1)?).ok()?;
        let status = self.text.get(start..end)?;
        Some((status, status.get(HIT_PREFIX.len()..)?))
    }
}

const HIT_PREFIX: &str = "rampart; hit; ttl=";

/// The value of `Age: secs`.
pub(crate) fn age_value(secs: u64) -> HeaderValue {
    match HitValues::get().status_and_age(secs) {
        Some((_, age)) => HeaderValue::from_static(age),
        None => HeaderValue::from(secs),
    }
}

impl Status<'_> {
    pub(crate) fn value(self) -> HeaderValue {
        if let Self::Hit(ttl) = self {
            if let Some((status, _)) = HitValues::get().status_and_age(ttl) {
                return HeaderValue::from_static(status);
            }
            // The hit path's value, without the formatting machinery.
            let mut text = Vec::with_capacity(40);
            text.extend_from_slice(HIT_PREFIX.as_bytes());
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
/// `If-None-Match`, no body for `HEAD`, with `Age: age` (seconds) and
/// `Cache-Status`.
pub(crate) fn from_entry<B: Body>(
    entry: &CachedResponse,
    validators: Option<&HeaderMap>,
    head: bool,
    status: Status<'_>,
    age: u64,
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
        *response.headers_mut() = entry.hit_headers(age, left);
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
    headers.insert(header::AGE, age_value(age));
    headers.insert(CACHE_STATUS, status.value());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_values_from_the_table_and_beyond_it() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1000,
            3599,
            3600,
            3601,
            86_400,
            u64::MAX,
        ] {
            assert_eq!(age_value(n), n.to_string().as_str(), "{n}");
            assert_eq!(
                Status::Hit(n).value(),
                format!("rampart; hit; ttl={n}").as_str(),
                "{n}"
            );
        }
    }
}
