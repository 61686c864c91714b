//! `CACHE_URL` and `CACHE_PREFIX`: where the response cache keeps its
//! copies. The layer and what it caches are in [`crate::cache`].

/// `CACHE_URL` and `CACHE_PREFIX`: the server's, and those of a command
/// that changes data the servers cache (`gdpr purge`).
#[derive(Debug, Clone, clap::Args)]
pub struct CacheArgs {
    /// Where cached responses live: `memory`, `redis://...` or
    /// `two-tier+redis://...`. Unset: two-tier over REDIS_URL when set, else memory.
    #[arg(long = "cache-url", env = "CACHE_URL", value_name = "CACHE_URL")]
    pub cache_url: Option<String>,

    /// The prefix of the cache's Redis keys and invalidation channel: the
    /// replicas of one deployment share it; another app on the same Redis
    /// takes another.
    #[arg(
        long = "cache-prefix",
        env = "CACHE_PREFIX",
        value_name = "CACHE_PREFIX",
        default_value = "operator-demo:cache:"
    )]
    pub cache_prefix: String,
}

/// Where cached responses live (`CACHE_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheUrl {
    /// `memory`: this process only.
    Memory,
    /// `redis://...`: Redis only, one round trip per lookup.
    Redis(String),
    /// `two-tier+redis://...` (the default with `REDIS_URL`): a copy in
    /// each process in front of Redis, dropped through pub/sub.
    TwoTier(String),
}

impl CacheUrl {
    /// `CACHE_URL` (unset or empty: two-tier over `REDIS_URL` when set,
    /// else memory).
    pub fn parse(cache_url: Option<&str>, redis_url: Option<&str>) -> Result<Self, String> {
        let redis = |url: &str| url.starts_with("redis://") || url.starts_with("rediss://");
        match cache_url.map(str::trim).filter(|url| !url.is_empty()) {
            None => Ok(redis_url
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map_or(Self::Memory, |url| Self::TwoTier(url.to_owned()))),
            Some("memory") => Ok(Self::Memory),
            Some(url) if redis(url) => Ok(Self::Redis(url.to_owned())),
            Some(url) => match url.strip_prefix("two-tier+") {
                Some(rest) if redis(rest) => Ok(Self::TwoTier(rest.to_owned())),
                _ => Err(format!(
                    "expected `memory`, `redis://...`, `rediss://...` or `two-tier+redis://...`, got {:?}",
                    crate::stack::redact(url)
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_url_defaults_follow_redis_url() {
        let redis = "redis://127.0.0.1:6379/";
        assert_eq!(CacheUrl::parse(None, None), Ok(CacheUrl::Memory));
        assert_eq!(CacheUrl::parse(Some(" "), None), Ok(CacheUrl::Memory));
        assert_eq!(
            CacheUrl::parse(None, Some(redis)),
            Ok(CacheUrl::TwoTier(redis.into()))
        );
        assert_eq!(
            CacheUrl::parse(Some("memory"), Some(redis)),
            Ok(CacheUrl::Memory)
        );
        assert_eq!(
            CacheUrl::parse(Some(redis), None),
            Ok(CacheUrl::Redis(redis.into()))
        );
        assert_eq!(
            CacheUrl::parse(Some("two-tier+rediss://h:1/"), None),
            Ok(CacheUrl::TwoTier("rediss://h:1/".into()))
        );
        for bad in ["memcached://x", "two-tier+memory", "two-tier+", "redis:/x"] {
            let err = CacheUrl::parse(Some(bad), None).unwrap_err();
            assert!(err.contains("expected"), "{bad}: {err}");
        }
        let err = CacheUrl::parse(Some("http://u:secret@h/"), None).unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }
}
