//! Cache keys: every part length-prefixed, so that no two different
//! requests (or namespace and key pairs) share a key.

use bytes::Bytes;

/// A cache key: the parts it was built from, each prefixed by its length,
/// after a count of the parts. Two keys are equal only when they were built
/// from the same parts: `("ab", "c")` and `("a", "bc")` differ, and so do
/// a missing part and an empty one.
///
/// # Example
///
/// ```
/// use rampart_cache::CacheKey;
///
/// let a = CacheKey::builder().part("ab").part("c").build();
/// let b = CacheKey::builder().part("a").part("bc").build();
/// assert_ne!(a, b);
///
/// let request = |query| CacheKey::for_request("GET", "/campaigns", query, &[], Some("acme"), Some("u1"));
/// assert_eq!(request(Some("b=2&a=1")), request(Some("a=1&b=2")), "the query is sorted");
/// assert_ne!(request(Some("a=2&a=1")), request(Some("a=1&a=2")), "by name, stably");
/// assert_ne!(request(Some("a=1&b=2")), request(Some("a=1%26b=2")));
/// assert_ne!(
///     CacheKey::for_request("GET", "/x", None, &[], Some("acme"), None),
///     CacheKey::for_request("GET", "/x", None, &[], None, Some("acme")),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Vec<u8>);

impl CacheKey {
    /// A builder of a key from parts.
    pub fn builder() -> CacheKeyBuilder {
        CacheKeyBuilder::default()
    }

    /// The key of a response: method, path, the query's `&`-separated pairs
    /// sorted, each header the route varies on (name, then every value in
    /// order, or a marker for an absent header), the tenant and the
    /// principal (each present or absent).
    pub fn for_request(
        method: &str,
        path: &str,
        query: Option<&str>,
        vary: &[(&str, Vec<&[u8]>)],
        tenant: Option<&str>,
        principal: Option<&str>,
    ) -> Self {
        let vary = vary
            .iter()
            .map(|(name, values)| (*name, values.iter().copied()));
        let mut key = KeyBuf::new();
        request_key(&mut key, method, path, query, vary, tenant, principal);
        Self(key.into_vec())
    }

    /// The key of a value of the cache API: namespace, its version, the key.
    pub(crate) fn for_value(namespace: &str, version: u32, key: &str) -> Self {
        Self::builder()
            .part("value")
            .part(namespace)
            .part(version.to_be_bytes())
            .part(key)
            .build()
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key's bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.0)
    }
}

/// Bytes of a key kept on the stack; longer keys move to the heap.
const INLINE: usize = 256;

/// A key built on the stack: the hit path's keys fit, and only a miss
/// copies one to the heap.
pub(crate) struct KeyBuf {
    inline: [u8; INLINE],
    len: usize,
    heap: Option<Vec<u8>>,
}

/// Where a [`Writer`] puts a key's bytes: a `Vec` for the public builder,
/// a [`KeyBuf`] on the hit path.
trait KeySink {
    fn put(&mut self, bytes: &[u8]);
    fn put_u32(&mut self, n: u32);
    /// A part: its length `len` (that of `bytes`, or `u32::MAX`), then
    /// `bytes`.
    #[inline(always)]
    fn put_part(&mut self, len: u32, bytes: &[u8]) {
        self.put_u32(len);
        self.put(bytes);
    }
    /// Writes `n` at `at`, where four bytes were put.
    fn set_u32(&mut self, at: usize, n: u32);
    fn len(&self) -> usize;
}

impl KeySink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_u32(&mut self, n: u32) {
        self.extend_from_slice(&n.to_be_bytes());
    }

    fn set_u32(&mut self, at: usize, n: u32) {
        self[at..at + 4].copy_from_slice(&n.to_be_bytes());
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }
}

impl KeyBuf {
    pub(crate) fn new() -> Self {
        Self {
            inline: [0; INLINE],
            len: 0,
            heap: None,
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self.heap {
            Some(heap) => heap,
            None => self.inline[..self.len].to_vec(),
        }
    }
}

impl KeySink for &mut KeyBuf {
    // Always: a call per part was a third of the key's cost on a hit.
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        if let Some(heap) = &mut self.heap {
            heap.extend_from_slice(bytes);
            return;
        }
        let end = self.len + bytes.len();
        if let Some(slot) = self.inline.get_mut(self.len..end) {
            slot.copy_from_slice(bytes);
            self.len = end;
        } else {
            let mut heap = Vec::with_capacity(end * 2);
            heap.extend_from_slice(&self.inline[..self.len]);
            heap.extend_from_slice(bytes);
            self.heap = Some(heap);
        }
    }

    /// Puts a part's length: a fixed-size copy, not a call to `memcpy`.
    #[inline(always)]
    fn put_u32(&mut self, n: u32) {
        let end = self.len + 4;
        match self.inline.get_mut(self.len..end) {
            Some(slot) if self.heap.is_none() => {
                slot.copy_from_slice(&n.to_be_bytes());
                self.len = end;
            }
            _ => self.put(&n.to_be_bytes()),
        }
    }

    /// One bounds check for the length and the bytes.
    #[inline(always)]
    fn put_part(&mut self, len: u32, bytes: &[u8]) {
        let end = self.len + 4 + bytes.len();
        if self.heap.is_none()
            && let Some(slot) = self.inline.get_mut(self.len..end)
            && let Some((prefix, rest)) = slot.split_first_chunk_mut::<4>()
        {
            *prefix = len.to_be_bytes();
            rest.copy_from_slice(bytes);
            self.len = end;
        } else {
            self.put_u32(len);
            self.put(bytes);
        }
    }

    fn set_u32(&mut self, at: usize, n: u32) {
        let bytes = match &mut self.heap {
            Some(heap) => heap.as_mut_slice(),
            None => &mut self.inline[..self.len],
        };
        bytes[at..at + 4].copy_from_slice(&n.to_be_bytes());
    }

    fn len(&self) -> usize {
        self.heap.as_ref().map_or(self.len, Vec::len)
    }
}

impl std::ops::Deref for KeyBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.heap {
            Some(heap) => heap,
            None => &self.inline[..self.len],
        }
    }
}

/// Writes [`CacheKey::for_request`]'s bytes to `out` (empty), without a
/// heap allocation for keys of up to 256 bytes and queries of up to 16
/// pairs. `vary` gives each header's name and values.
pub(crate) fn request_key<'v, V, I>(
    out: &mut KeyBuf,
    method: &str,
    path: &str,
    query: Option<&str>,
    vary: V,
    tenant: Option<&str>,
    principal: Option<&str>,
) where
    V: Iterator<Item = (&'v str, I)>,
    I: Iterator<Item = &'v [u8]>,
{
    let mut key = Writer::new(out);
    key.part(b"response");
    key.part(method.as_bytes());
    key.part(path.as_bytes());
    match query {
        None => key.part(&[]),
        Some(query) => {
            key.part(&[1]);
            let count = key.count_part();
            let mut pairs = 0;
            // By name only, and stable: `a=2&a=1` keeps its order, which an
            // app may read as a list. Most queries come sorted already.
            let mut last: Option<&str> = None;
            let sorted = Pairs::new(query).all(|pair| {
                let name = name(pair);
                let in_order = last.is_none_or(|last| le(last.as_bytes(), name.as_bytes()));
                last = Some(name);
                in_order
            });
            if sorted {
                for pair in Pairs::new(query) {
                    key.part(pair.as_bytes());
                    pairs += 1;
                }
            } else {
                let mut inline = [""; 16];
                let mut heap = Vec::new();
                let all = if Pairs::new(query).count() <= inline.len() {
                    let mut n = 0;
                    for (slot, pair) in inline.iter_mut().zip(Pairs::new(query)) {
                        *slot = pair;
                        n += 1;
                    }
                    &mut inline[..n]
                } else {
                    heap.extend(Pairs::new(query));
                    &mut heap[..]
                };
                all.sort_by(|a, b| name(a).cmp(name(b)));
                for pair in all.iter() {
                    key.part(pair.as_bytes());
                    pairs += 1;
                }
            }
            key.set_count(count, pairs);
        }
    }
    let headers = key.count_part();
    let mut names = 0;
    for (name, values) in vary {
        key.part(name.as_bytes());
        let count = key.count_part();
        let mut n = 0;
        for value in values {
            key.part(value);
            n += 1;
        }
        key.set_count(count, n);
        names += 1;
    }
    key.set_count(headers, names);
    key.optional(tenant.map(str::as_bytes));
    key.optional(principal.map(str::as_bytes));
    key.finish();
}

/// Writes length-prefixed parts after a count of them: the one encoder of
/// [`CacheKey`]s, behind both [`CacheKeyBuilder`] and [`request_key`].
#[derive(Debug, Clone)]
struct Writer<S> {
    parts: u32,
    buf: S,
}

impl<S: KeySink> Writer<S> {
    fn new(mut buf: S) -> Self {
        buf.put_u32(0);
        Self { parts: 0, buf }
    }

    #[inline(always)]
    fn part(&mut self, part: &[u8]) {
        // Parts longer than 4 GiB do not occur; saturating keeps this total.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        self.buf.put_part(len, part);
        self.parts = self.parts.saturating_add(1);
    }

    /// A part holding a count written later by [`Self::set_count`].
    #[inline(always)]
    fn count_part(&mut self) -> usize {
        self.part(&[0; 4]);
        self.buf.len() - 4
    }

    fn set_count(&mut self, at: usize, count: usize) {
        self.buf
            .set_u32(at, u32::try_from(count).unwrap_or(u32::MAX));
    }

    #[inline(always)]
    fn optional(&mut self, part: Option<&[u8]>) {
        match part {
            None => self.part(&[0]),
            Some(part) => {
                self.part(&[1]);
                self.part(part);
            }
        }
    }

    fn finish(mut self) -> S {
        self.buf.set_u32(0, self.parts);
        self.buf
    }
}

fn name(pair: &str) -> &str {
    // A byte loop: `split_once` costs more than the query on a hit.
    match pair.bytes().position(|b| b == b'=') {
        Some(at) => &pair[..at],
        None => pair,
    }
}

/// `a <= b`, by a byte loop: names are short, and `memcmp` through the
/// PLT cost a tenth of a hit's time.
fn le(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() <= b.len()
}

/// `query.split('&')`, by a byte loop: the generic splitter cost a third
/// of the key on a hit.
struct Pairs<'q> {
    rest: Option<&'q str>,
}

impl<'q> Pairs<'q> {
    fn new(query: &'q str) -> Self {
        Self { rest: Some(query) }
    }
}

impl<'q> Iterator for Pairs<'q> {
    type Item = &'q str;

    #[inline]
    fn next(&mut self) -> Option<&'q str> {
        let rest = self.rest?;
        if let Some(at) = rest.bytes().position(|b| b == b'&') {
            self.rest = Some(&rest[at + 1..]);
            Some(&rest[..at])
        } else {
            self.rest = None;
            Some(rest)
        }
    }
}

/// Builds a [`CacheKey`] from parts; see there.
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheKeyBuilder(Writer<Vec<u8>>);

impl Default for CacheKeyBuilder {
    fn default() -> Self {
        Self(Writer::new(Vec::with_capacity(128)))
    }
}

impl CacheKeyBuilder {
    /// Adds a part.
    pub fn part(mut self, part: impl AsRef<[u8]>) -> Self {
        self.0.part(part.as_ref());
        self
    }

    /// Adds a part that may be absent: absent and empty differ.
    pub fn optional(mut self, part: Option<impl AsRef<[u8]>>) -> Self {
        match part {
            None => self.0.optional(None),
            Some(part) => self.0.optional(Some(part.as_ref())),
        }
        self
    }

    /// The key.
    pub fn build(self) -> CacheKey {
        CacheKey(self.0.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key as the builder makes it, part by part: the layout that
    /// `request_key` writes without the builder.
    fn by_builder(
        query: Option<&str>,
        vary: &[(&str, Vec<&[u8]>)],
        tenant: Option<&str>,
    ) -> CacheKey {
        let mut b = CacheKey::builder().part("response").part("GET").part("/p");
        match query {
            None => b = b.part([]),
            Some(query) => {
                let name = |pair: &str| pair.split_once('=').map_or(pair, |(n, _)| n).to_owned();
                let mut pairs: Vec<&str> = query.split('&').collect();
                pairs.sort_by_key(|pair| name(pair));
                b = b
                    .part([1])
                    .part(u32::try_from(pairs.len()).unwrap().to_be_bytes());
                for pair in pairs {
                    b = b.part(pair);
                }
            }
        }
        b = b.part(u32::try_from(vary.len()).unwrap().to_be_bytes());
        for (name, values) in vary {
            b = b
                .part(name)
                .part(u32::try_from(values.len()).unwrap().to_be_bytes());
            for value in values {
                b = b.part(value);
            }
        }
        b.optional(tenant).optional(None::<&str>).build()
    }

    #[test]
    fn request_keys_match_the_builders_layout() {
        let long = "x=".to_owned() + &"y".repeat(400);
        let many: String = (0..40).rev().map(|i| format!("k{i:02}=1&")).collect();
        for query in [
            None,
            Some(""),
            Some("a=1"),
            Some("b=2&a=1&a=0"),
            Some("&"),
            Some("a&"),
            Some("&&b=1"),
            Some("a=1=2&a&a="),
            Some("b&a=&a"),
            Some(&*long),
            Some(many.as_str()),
        ] {
            for vary in [
                vec![],
                vec![("accept", vec![&b"a"[..], b"b"]), ("x", vec![])],
            ] {
                for tenant in [None, Some("acme")] {
                    let ours = CacheKey::for_request("GET", "/p", query, &vary, tenant, None);
                    assert_eq!(ours, by_builder(query, &vary, tenant), "{query:?}");
                }
            }
        }
    }

    #[test]
    fn le_orders_as_slices_do() {
        let words: [&[u8]; 7] = [b"", b"a", b"ab", b"b", b"ba", b"\xff", b"a\x00"];
        for a in words {
            for b in words {
                assert_eq!(le(a, b), a <= b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn pairs_split_as_str_split_does() {
        for query in ["", "&", "&&", "a", "a&", "&a", "a=1&b=2", "a&&b", "é=1&ü"] {
            let ours: Vec<&str> = Pairs::new(query).collect();
            let std: Vec<&str> = query.split('&').collect();
            assert_eq!(ours, std, "{query:?}");
        }
    }
}
