//! Namespaces of the cache API: a name, a default TTL, a size cap and a
//! version of the values' type.

use std::{borrow::Cow, time::Duration};

/// A kind of cached data: its name (part of every key, and the `namespace`
/// label of the metrics), its default TTL, the largest value it stores and
/// the version of its values' type.
///
/// Bump the version when the type changes shape: the new release then reads
/// none of the old release's values (they are different keys), and never
/// deserializes what it cannot.
///
/// The five presets are the production plan's classes of data.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_cache::Namespace;
///
/// assert_eq!(Namespace::campaign_scripts().ttl(), Duration::from_secs(3600));
/// let reports = Namespace::new("reports", Duration::from_secs(120))
///     .max_value_bytes(256 * 1024)
///     .version(2);
/// assert_eq!(reports.name(), "reports");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Namespace {
    name: Cow<'static, str>,
    ttl: Duration,
    max_value_bytes: usize,
    version: u32,
}

/// The default cap on one value: 1 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;

impl Namespace {
    /// A namespace with this name and default TTL, a 1 MiB cap, version 1.
    pub fn new(name: impl Into<Cow<'static, str>>, ttl: Duration) -> Self {
        Self {
            name: name.into(),
            ttl,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            version: 1,
        }
    }

    /// Campaign scripts: 1 hour.
    pub fn campaign_scripts() -> Self {
        Self::new("campaign_scripts", Duration::from_secs(3600))
    }

    /// Telephony provider settings: 15 minutes.
    pub fn provider_settings() -> Self {
        Self::new("provider_settings", Duration::from_secs(15 * 60))
    }

    /// Session data: 24 hours.
    pub fn session_data() -> Self {
        Self::new("session_data", Duration::from_secs(24 * 3600))
    }

    /// User preferences: 30 minutes.
    pub fn user_preferences() -> Self {
        Self::new("user_preferences", Duration::from_secs(30 * 60))
    }

    /// API responses: 5 minutes.
    pub fn api_responses() -> Self {
        Self::new("api_responses", Duration::from_secs(5 * 60))
    }

    /// The largest serialized value stored; larger ones are refused
    /// ([`CacheError::TooLarge`](crate::CacheError::TooLarge)).
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// The version of the values' type (default 1).
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The default TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The cap on one value.
    pub fn value_cap(&self) -> usize {
        self.max_value_bytes
    }

    /// The version of the values' type.
    pub fn value_version(&self) -> u32 {
        self.version
    }
}
