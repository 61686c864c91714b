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
        let mut builder = Self::builder().part("response").part(method).part(path);
        match query {
            None => builder = builder.part([]),
            Some(query) => {
                let mut pairs: Vec<&str> = query.split('&').collect();
                // By name only, and stable: `a=2&a=1` keeps its order, which
                // an app may read as a list.
                pairs.sort_by(|a, b| name(a).cmp(name(b)));
                builder = builder
                    .part([1])
                    .part(u32::try_from(pairs.len()).unwrap_or(u32::MAX).to_be_bytes());
                for pair in pairs {
                    builder = builder.part(pair);
                }
            }
        }
        builder = builder.part(u32::try_from(vary.len()).unwrap_or(u32::MAX).to_be_bytes());
        for (name, values) in vary {
            builder = builder.part(name).part(
                u32::try_from(values.len())
                    .unwrap_or(u32::MAX)
                    .to_be_bytes(),
            );
            for value in values {
                builder = builder.part(value);
            }
        }
        builder.optional(tenant).optional(principal).build()
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

fn name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(name, _)| name)
}

/// Builds a [`CacheKey`] from parts; see there.
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheKeyBuilder {
    parts: u32,
    /// The part count's 4 bytes (written by `build`), then the parts.
    buf: Vec<u8>,
}

impl Default for CacheKeyBuilder {
    fn default() -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&[0; 4]);
        Self { parts: 0, buf }
    }
}

impl CacheKeyBuilder {
    /// Adds a part.
    pub fn part(mut self, part: impl AsRef<[u8]>) -> Self {
        let part = part.as_ref();
        // Parts longer than 4 GiB do not occur; saturating keeps this total.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(part);
        self.parts = self.parts.saturating_add(1);
        self
    }

    /// Adds a part that may be absent: absent and empty differ.
    pub fn optional(self, part: Option<impl AsRef<[u8]>>) -> Self {
        match part {
            None => self.part([0]),
            Some(part) => self.part([1]).part(part),
        }
    }

    /// The key.
    pub fn build(mut self) -> CacheKey {
        self.buf[..4].copy_from_slice(&self.parts.to_be_bytes());
        CacheKey(self.buf)
    }
}
