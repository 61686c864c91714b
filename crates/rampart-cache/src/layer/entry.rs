//! A cached response and its encoding in the store.
//!
//! Encoded by hand rather than with a serde format: the body must come back
//! as a slice of the stored bytes (no copy on a hit), and header values are
//! bytes, not strings. The layout is a version byte, fixed-width numbers,
//! length-prefixed headers, then the body:
//!
//! `1 | status u16 | stored_at_ms u64 | ttl_ms u64 | swr_ms u64 | sie_ms u64 |
//! headers u16 | (name_len u16, name, value_len u32, value)* | body`

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use spin::mutex::SpinMutex;

use crate::layer::respond::{CACHE_STATUS, Status, age_value};

const VERSION: u8 = 1;

#[derive(Debug)]
pub(crate) struct CachedResponse {
    pub(crate) status: StatusCode,
    /// With the `ETag`.
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) stored_at_ms: u64,
    /// The entry's age at `seen`, an instant of this process's monotonic
    /// clock read once when the entry was made or decoded: a hit then
    /// reads one clock (the store's, for expiry, which it passes on), and
    /// `Age` does not jump when the system clock is set.
    pub(crate) seen: Instant,
    pub(crate) age_at_seen_ms: u64,
    pub(crate) ttl: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    /// The headers of the last hit's answer.
    pub(crate) last_hit: LastHit,
}

/// The headers of the last fresh hit's answer, `Age` and `Cache-Status`
/// set: the hits of the same second copy them whole, one map copy with
/// nothing to format or insert.
#[derive(Debug, Default)]
pub(crate) struct LastHit(SpinMutex<Option<Arc<HitHead>>>);

#[derive(Debug)]
pub(crate) struct HitHead {
    age: u64,
    left: u64,
    headers: HeaderMap,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Within its TTL: seconds left.
    Fresh(u64),
    /// Past it by this many seconds, within the stale-while-revalidate window.
    Revalidate(u64),
    /// Past it by this many seconds, within only the stale-if-error window.
    IfError(u64),
    /// Too old to serve.
    Expired,
}

impl CachedResponse {
    /// Its age in milliseconds at `now`.
    pub(crate) fn age_ms(&self, now: Instant) -> u64 {
        self.age_at_seen_ms
            .saturating_add(ms(now.saturating_duration_since(self.seen)))
    }

    /// Its age in whole seconds.
    pub(crate) fn age(&self, now: Instant) -> u64 {
        self.age_ms(now) / 1000
    }

    pub(crate) fn freshness(&self, now: Instant) -> Freshness {
        self.freshness_at(self.age_ms(now))
    }

    /// [`Self::freshness`] at an age in milliseconds.
    pub(crate) fn freshness_at(&self, age: u64) -> Freshness {
        let ttl = ms(self.ttl);
        if age < ttl {
            return Freshness::Fresh((ttl - age).div_ceil(1000));
        }
        let over = age - ttl;
        if over < ms(self.stale_while_revalidate) {
            Freshness::Revalidate(over / 1000 + 1)
        } else if over < ms(self.stale_if_error) {
            Freshness::IfError(over / 1000 + 1)
        } else {
            Freshness::Expired
        }
    }

    /// How long the store keeps it.
    pub(crate) fn store_ttl(&self) -> Duration {
        self.ttl + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// The headers of a fresh hit's answer, `age` seconds old with `left`
    /// seconds to live.
    pub(crate) fn hit_headers(&self, age: u64, left: u64) -> HeaderMap {
        // `try_lock`: a hit never waits for another; it builds its own.
        // Copied under the lock: no count of the `Arc` to raise and drop.
        let last = self.last_hit.0.try_lock().and_then(|last| {
            last.as_ref()
                .filter(|head| head.age == age && head.left == left)
                .map(|head| head.headers.clone())
        });
        if let Some(headers) = last {
            return headers;
        }
        let mut headers = self.headers.clone();
        headers.insert(header::AGE, age_value(age));
        headers.insert(CACHE_STATUS, Status::Hit(left).value());
        let head = Arc::new(HitHead {
            age,
            left,
            headers: headers.clone(),
        });
        if let Some(mut last) = self.last_hit.0.try_lock() {
            *last = Some(head);
        }
        headers
    }

    pub(crate) fn etag(&self) -> Option<&HeaderValue> {
        self.headers.get(header::ETAG)
    }

    pub(crate) fn encode(&self) -> Bytes {
        let headers_len: usize = self
            .headers
            .iter()
            .map(|(n, v)| 6 + n.as_str().len() + v.len())
            .sum();
        let mut buf = BytesMut::with_capacity(1 + 2 + 32 + 2 + headers_len + self.body.len());
        buf.put_u8(VERSION);
        buf.put_u16(self.status.as_u16());
        buf.put_u64(self.stored_at_ms);
        buf.put_u64(ms(self.ttl));
        buf.put_u64(ms(self.stale_while_revalidate));
        buf.put_u64(ms(self.stale_if_error));
        let count = self.headers.len().min(usize::from(u16::MAX));
        buf.put_u16(u16::try_from(count).unwrap_or(u16::MAX));
        for (name, value) in self.headers.iter().take(count) {
            let name = name.as_str().as_bytes();
            buf.put_u16(u16::try_from(name.len()).unwrap_or(u16::MAX));
            buf.put_slice(name);
            buf.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
            buf.put_slice(value.as_bytes());
        }
        buf.put_slice(&self.body);
        buf.freeze()
    }

    /// `None` for anything this release did not write.
    pub(crate) fn decode(bytes: &Bytes) -> Option<Self> {
        let mut at = 0;
        let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
            let end = at.checked_add(n)?;
            let slice = bytes.get(*at..end)?;
            *at = end;
            Some(slice)
        };
        let u16_at = |at: &mut usize| take(at, 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let u32_at = |at: &mut usize| {
            take(at, 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
        };
        let u64_at = |at: &mut usize| {
            take(at, 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        if take(&mut at, 1)? != [VERSION] {
            return None;
        }
        let status = StatusCode::from_u16(u16_at(&mut at)?).ok()?;
        let stored_at_ms = u64_at(&mut at)?;
        let ttl = Duration::from_millis(u64_at(&mut at)?);
        let stale_while_revalidate = Duration::from_millis(u64_at(&mut at)?);
        let stale_if_error = Duration::from_millis(u64_at(&mut at)?);
        // Both clocks, once an entry (the stored time is the system
        // clock's, shared by replicas).
        let seen = Instant::now();
        let age_at_seen_ms = now_ms().saturating_sub(stored_at_ms);
        let count = u16_at(&mut at)?;
        let mut headers = HeaderMap::with_capacity(usize::from(count) + 2);
        for _ in 0..count {
            let len = usize::from(u16_at(&mut at)?);
            let name = HeaderName::from_bytes(take(&mut at, len)?).ok()?;
            let len = usize::try_from(u32_at(&mut at)?).ok()?;
            let value = HeaderValue::from_bytes(take(&mut at, len)?).ok()?;
            headers.append(name, value);
        }
        // Placeholders for what every answer from this entry sets: a copy
        // of the map then has their slots, and setting them moves nothing.
        headers.insert(header::AGE, HeaderValue::from_static("0"));
        headers.insert(CACHE_STATUS, HeaderValue::from_static("rampart"));
        Some(Self {
            status,
            headers,
            body: bytes.slice(at..),
            stored_at_ms,
            seen,
            age_at_seen_ms,
            ttl,
            stale_while_revalidate,
            stale_if_error,
            last_hit: LastHit::default(),
        })
    }
}

/// Headers that describe one connection or one response, not the resource:
/// never stored.
pub(crate) fn is_stored_header(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "age"
            | "cache-status"
            | "set-cookie"
    )
}

/// A strong validator made from the body: two 64-bit hashes with fixed
/// seeds (stable across processes, so replicas agree).
pub(crate) fn etag_for(body: &[u8]) -> HeaderValue {
    use std::hash::BuildHasher;
    let a = foldhash::quality::FixedState::with_seed(0x5241_4d50_4152_5431).hash_one(body);
    let b = foldhash::quality::FixedState::with_seed(0x4341_4348_4545_5447).hash_one(body);
    let text = format!("\"{a:016x}{b:016x}\"");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// Whether `If-None-Match` (weak comparison, RFC 9110 §13.1.2) matches `etag`.
pub(crate) fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    fn opaque(tag: &[u8]) -> Option<&[u8]> {
        let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
        (tag.len() >= 2 && tag[0] == b'"' && tag[tag.len() - 1] == b'"').then_some(tag)
    }
    let mut values = headers.get_all(header::IF_NONE_MATCH).iter().peekable();
    if values.peek().is_none() {
        return false;
    }
    let Some(ours) = opaque(etag.as_bytes()) else {
        return false;
    };
    values.any(|value| {
        value.as_bytes().split(|b| *b == b',').any(|candidate| {
            let candidate = candidate.trim_ascii();
            candidate == b"*" || opaque(candidate) == Some(ours)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.append(header::VARY, HeaderValue::from_static("accept"));
        headers.append(header::VARY, HeaderValue::from_static("accept-language"));
        let entry = CachedResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"{\"a\":1}"),
            stored_at_ms: 5,
            seen: Instant::now(),
            age_at_seen_ms: 0,
            ttl: Duration::from_secs(60),
            stale_while_revalidate: Duration::from_secs(1),
            stale_if_error: Duration::ZERO,
            last_hit: LastHit::default(),
        };
        let bytes = entry.encode();
        let mut back = CachedResponse::decode(&bytes).unwrap();
        assert_eq!(back.headers.remove(header::AGE).unwrap(), "0");
        assert_eq!(back.headers.remove(CACHE_STATUS).unwrap(), "rampart");
        assert_eq!(back.headers, entry.headers);
        assert_eq!(back.body, entry.body);
        assert_eq!(back.ttl, entry.ttl);
        for cut in 0..bytes.len() - entry.body.len() {
            assert!(
                CachedResponse::decode(&bytes.slice(..cut)).is_none(),
                "{cut}"
            );
        }
        assert!(CachedResponse::decode(&Bytes::from_static(b"\x02garbage")).is_none());
    }

    /// A fresh 60 s entry with only an `ETag`.
    fn with_etag() -> CachedResponse {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static("\"e\""));
        CachedResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::new(),
            stored_at_ms: 0,
            seen: Instant::now(),
            age_at_seen_ms: 0,
            ttl: Duration::from_secs(60),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            last_hit: LastHit::default(),
        }
    }

    #[test]
    fn hit_headers_follow_the_clock() {
        let entry = with_etag();
        for (age, left) in [(0, 60), (0, 60), (5, 55), (5, 55), (0, 60)] {
            let headers = entry.hit_headers(age, left);
            assert_eq!(headers[header::AGE], age.to_string());
            assert_eq!(headers[CACHE_STATUS], format!("rampart; hit; ttl={left}"));
            assert_eq!(headers[header::ETAG], "\"e\"");
            assert_eq!(headers.len(), 3);
        }
    }

    #[test]
    fn a_hit_never_waits_for_the_last_hits_headers() {
        let entry = with_etag();
        let held = entry.last_hit.0.try_lock().expect("free");
        // Another hit holds them: this one builds its own, at once.
        let headers = entry.hit_headers(3, 57);
        assert_eq!(headers[header::AGE], "3");
        assert_eq!(headers[CACHE_STATUS], "rampart; hit; ttl=57");
        assert!(held.is_none(), "nothing kept while held");
        drop(held);
        assert_eq!(entry.hit_headers(4, 56)[header::AGE], "4");
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let etag = HeaderValue::from_static("\"abc\"");
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(v));
            if_none_match(&h, &etag)
        };
        assert!(with("\"abc\""));
        assert!(with("W/\"abc\""));
        assert!(with("\"x\", \"abc\""));
        assert!(with("*"));
        assert!(!with("\"abcd\""));
        assert!(!with("abc"));
        assert!(!if_none_match(&HeaderMap::new(), &etag));
    }
}
