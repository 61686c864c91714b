//! The tenant's identifier, parsed once.

use std::{borrow::Borrow, fmt, str::FromStr, sync::Arc};

/// The longest identifier accepted, in bytes.
pub const MAX_LEN: usize = 64;

/// A tenant's identifier: 1 to 64 ASCII letters, digits, `-` or `_`.
///
/// That covers UUIDs (`4f1c2a9e-...`), slugs (`acme`) and numeric ids, and
/// keeps out everything that could mean something else where the id ends up:
/// a Redis key, a tracing field, a log line, a SQL setting, a DNS label.
/// Parsing is the only way to make one, so a value of this type is valid.
///
/// Clones share one allocation.
///
/// # Example
///
/// ```
/// use rampart_tenant::TenantId;
///
/// let id: TenantId = "acme".parse()?;
/// assert_eq!(id.as_str(), "acme");
/// assert!("4f1c2a9e-7d3b-4c55-9a51-0e6f2b8d1c77".parse::<TenantId>().is_ok());
///
/// let err = "acme corp".parse::<TenantId>().unwrap_err();
/// assert_eq!(err.to_string(), "tenant id \"acme corp\" has a character other than ASCII letters, digits, `-` and `_` at byte 4");
/// assert!("".parse::<TenantId>().is_err());
/// # Ok::<(), rampart_tenant::TenantIdError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Why a text is not a [`TenantId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantIdError {
    /// The text is empty.
    #[error("tenant id is empty")]
    Empty,
    /// The text is longer than [`MAX_LEN`] bytes.
    #[error("tenant id is {len} bytes long; at most 64 are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The text has a byte that is not allowed.
    #[error(
        "tenant id {value:?} has a character other than ASCII letters, digits, `-` and `_` at byte {at}"
    )]
    InvalidChar {
        /// The text, cut to [`MAX_LEN`] bytes (lossy UTF-8).
        value: String,
        /// The byte offset of the first bad byte.
        at: usize,
    },
}

/// Which bytes may appear in a tenant id: a table, because the check runs
/// on every request and a lookup per byte is a third of the comparisons.
static ALLOWED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// Whether `b` may appear in a tenant id.
#[inline]
pub(crate) fn allowed(b: u8) -> bool {
    ALLOWED[usize::from(b)]
}

/// Checks `bytes` against the rules without allocating.
#[inline]
pub(crate) fn check(bytes: &[u8]) -> Result<(), TenantIdError> {
    if bytes.is_empty() {
        return Err(TenantIdError::Empty);
    }
    if bytes.len() > MAX_LEN {
        return Err(TenantIdError::TooLong { len: bytes.len() });
    }
    // Fold the whole id first (no early exit, so the loop vectorizes);
    // look for the culprit only when there is one.
    if bytes.iter().fold(true, |ok, &b| ok & allowed(b)) {
        return Ok(());
    }
    let at = bytes.iter().position(|&b| !allowed(b)).unwrap_or(0);
    Err(TenantIdError::InvalidChar {
        value: String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LEN)]).into_owned(),
        at,
    })
}

impl TenantId {
    /// Parses `text` (the same as [`str::parse`]).
    pub fn new(text: &str) -> Result<Self, TenantIdError> {
        check(text.as_bytes())?;
        Ok(Self(Arc::from(text)))
    }

    /// Parses raw bytes (a header value, a path segment), which must be the
    /// same ASCII text [`new`](Self::new) accepts.
    ///
    /// ```
    /// use rampart_tenant::TenantId;
    /// assert_eq!(TenantId::from_bytes(b"acme").unwrap().as_str(), "acme");
    /// assert!(TenantId::from_bytes(b"\xff").is_err());
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TenantIdError> {
        check(bytes)?;
        // Every byte is ASCII after `check`, so this is always `Ok`.
        std::str::from_utf8(bytes)
            .map(|text| Self(Arc::from(text)))
            .map_err(|e| TenantIdError::InvalidChar {
                value: String::from_utf8_lossy(bytes).into_owned(),
                at: e.valid_up_to(),
            })
    }

    /// The identifier.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = TenantIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for TenantId {
    type Error = TenantIdError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for TenantId {
    type Error = TenantIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        check(value.as_bytes())?;
        Ok(Self(Arc::from(value)))
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_slugs_and_numbers() {
        for ok in [
            "a",
            "acme",
            "ACME-corp_2",
            "4f1c2a9e-7d3b-4c55-9a51-0e6f2b8d1c77",
            "42",
            &"x".repeat(64),
        ] {
            assert_eq!(TenantId::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(TenantId::new(""), Err(TenantIdError::Empty));
        assert_eq!(
            TenantId::new(&"x".repeat(65)),
            Err(TenantIdError::TooLong { len: 65 })
        );
        for (bad, at) in [
            ("a b", 1),
            ("a.b", 1),
            ("a/b", 1),
            ("é", 0),
            ("a\0", 1),
            ("a:b", 1),
            ("{a}", 0),
            ("a%2F", 1),
            (" a", 0),
            ("a\n", 1),
            ("a'--", 1),
        ] {
            match TenantId::new(bad) {
                Err(TenantIdError::InvalidChar { at: got, .. }) => assert_eq!(got, at, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(TenantId::from_bytes(b"a\xffb").is_err());
    }

    #[test]
    fn error_value_is_bounded() {
        let long = format!("{} {}", "x".repeat(10), "y".repeat(40));
        let Err(TenantIdError::InvalidChar { value, .. }) = TenantId::new(&long) else {
            panic!("expected InvalidChar");
        };
        assert!(value.len() <= MAX_LEN);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_round_trip_validates() {
        let id: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"acme\"");
        assert!(serde_json::from_str::<TenantId>("\"a b\"").is_err());
        assert!(serde_json::from_str::<TenantId>("17").is_err());
    }
}
