//! The shared store: Redis through the `redis` crate's `ConnectionManager`.

use std::{future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use rampart_core::{BreakerConfig, CircuitBreaker};
use redis::{RedisResult, Script, Value, aio::ConnectionManager};

use super::{CacheStore, Lookup, MAX_TTL, StoreFuture, TAG_TTL, TagStamp};
use crate::{CacheError, CacheStats, error::check_tag};

/// The first byte of every value this store writes. A value with another
/// first byte (written by a later, incompatible release, or by something
/// else entirely) is a miss, never decoded.
pub(crate) const FORMAT: u8 = 1;

/// One round trip: the entry, its tags checked against their versions now;
/// on a miss, the versions of the tags to stamp the computed value with (a
/// tag without a version gets a fresh one from the sequence first, so that
/// a missing version never matches anything).
///
/// KEYS[1] entry, ARGV: tag key prefix, sequence key, tag TTL (ms), format
/// byte, then the tags.
const LOOKUP: &str = r"
local e = redis.call('HMGET', KEYS[1], 'v', 't')
if e[1] and string.byte(e[1], 1) == tonumber(ARGV[4]) then
  local ok = true
  if e[2] then
    for tag, ver in string.gmatch(e[2], '([^\n]*)\t([^\n]*)\n') do
      if redis.call('GET', ARGV[1] .. tag) ~= ver then ok = false break end
    end
  end
  if ok then return {1, e[1], redis.call('PTTL', KEYS[1]), e[2] or ''} end
end
local stamp = {}
for i = 5, #ARGV do
  local key = ARGV[1] .. ARGV[i]
  local v = redis.call('GET', key)
  if not v then
    v = tostring(redis.call('INCR', ARGV[2]))
    redis.call('SET', key, v, 'PX', ARGV[3])
  end
  stamp[#stamp + 1] = v
end
return {0, stamp}
";

/// A fresh version for each tag, and a message to every replica's local
/// tier. KEYS[1] sequence, ARGV: tag key prefix, tag TTL (ms), channel,
/// then the tags.
const INVALIDATE: &str = r"
for i = 4, #ARGV do
  redis.call('SET', ARGV[1] .. ARGV[i], tostring(redis.call('INCR', KEYS[1])), 'PX', ARGV[2])
  redis.call('PUBLISH', ARGV[3], 't' .. ARGV[i])
end
return 1
";

/// The store Redis holds, shared by every replica: one round trip per
/// lookup (a Lua script, loaded once, run by `EVALSHA`), values prefixed by
/// a format byte, tag versions from one sequence so that none repeats.
///
/// Every call is bounded by a timeout (default 50 ms) and goes through a
/// [`CircuitBreaker`]: while Redis is down, calls fail at once with
/// [`CacheError::Unavailable`] instead of waiting, and one probe at a time
/// finds out when it is back. The response layer and
/// [`CacheNamespace::get_or_compute`](crate::CacheNamespace::get_or_compute)
/// then compute as if nothing were cached.
///
/// Standalone Redis (or a primary with replicas): the lookup script reads
/// tag keys that it cannot declare, which Redis Cluster does not allow.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use rampart_cache::{Cache, Namespace, RedisCacheStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let store = RedisCacheStore::new(connection)
///     .prefix("myapp:cache:")
///     .timeout(Duration::from_millis(50));
/// let cache = Cache::new(store);
/// let scripts = cache.namespace(Namespace::campaign_scripts());
/// scripts.set("42", &"Hello, this is ...".to_owned()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisCacheStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
    breaker: CircuitBreaker,
    lookup: Arc<Script>,
    invalidate: Arc<Script>,
    stats: CacheStats,
}

impl RedisCacheStore {
    /// A store on `connection`, keys under `rampart:cache:`, a 50 ms
    /// timeout, and a breaker that opens after 5 consecutive failures for 5 s.
    pub fn new(connection: ConnectionManager) -> Self {
        Self {
            conn: connection,
            prefix: Arc::from("rampart:cache:"),
            timeout: Duration::from_millis(50),
            breaker: CircuitBreaker::new(
                "cache store",
                BreakerConfig {
                    failures: 5,
                    cooldown: Duration::from_secs(5),
                },
            ),
            lookup: Arc::new(Script::new(LOOKUP)),
            invalidate: Arc::new(Script::new(INVALIDATE)),
            stats: CacheStats::default(),
        }
    }

    /// The prefix of every key (and of the invalidation channel): several
    /// apps, or test runs, share one Redis without meeting.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// How long one call may take before it counts as failed (default 50 ms).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How the circuit breaker trips and recovers.
    #[must_use]
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = CircuitBreaker::new("cache store", config);
        self
    }

    /// The circuit breaker in front of Redis (its stats for dashboards).
    pub fn circuit_breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The pub/sub channel invalidations are announced on.
    pub fn channel(&self) -> String {
        format!("{}invalidate", self.prefix)
    }

    fn entry_key(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + 2 + key.len());
        full.extend_from_slice(self.prefix.as_bytes());
        full.extend_from_slice(b"e:");
        full.extend_from_slice(key);
        full
    }

    /// Runs `call` under the breaker and the timeout.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, CacheError> {
        let Some(permit) = self.breaker.try_acquire() else {
            return Err(CacheError::Unavailable("circuit open".into()));
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                permit.success();
                Ok(value)
            }
            Ok(Err(error)) => {
                permit.failure(&error);
                Err(CacheError::Unavailable(error.to_string()))
            }
            Err(_) => {
                permit.failure("timeout");
                Err(CacheError::Timeout(self.timeout))
            }
        }
    }

    /// The lookup, and on a hit the time the entry has left and its tags.
    pub(crate) async fn lookup_ttl(
        &self,
        key: &[u8],
        tags: &[String],
    ) -> Result<(Lookup, Option<Duration>, Vec<String>), CacheError> {
        for tag in tags {
            check_tag(tag)?;
        }
        let mut invocation = self.lookup.key(self.entry_key(key));
        invocation
            .arg(format!("{}t:", self.prefix))
            .arg(format!("{}seq", self.prefix))
            .arg(millis(TAG_TTL))
            .arg(FORMAT);
        for tag in tags {
            invocation.arg(tag.as_str());
        }
        let mut conn = self.conn.clone();
        let reply: Value = self.guarded(invocation.invoke_async(&mut conn)).await?;
        parse_lookup(reply, tags)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn corrupt(what: &str) -> CacheError {
    CacheError::Corrupt(format!("lookup reply: {what}"))
}

fn parse_lookup(
    reply: Value,
    tags: &[String],
) -> Result<(Lookup, Option<Duration>, Vec<String>), CacheError> {
    let Value::Array(items) = reply else {
        return Err(corrupt("not an array"));
    };
    match items.as_slice() {
        [
            Value::Int(1),
            Value::BulkString(value),
            Value::Int(pttl),
            Value::BulkString(stamp),
        ] => {
            // The script checked the format byte.
            let value = Bytes::copy_from_slice(value.get(1..).unwrap_or_default());
            let left = u64::try_from(*pttl).ok().map(Duration::from_millis);
            let entry_tags = String::from_utf8_lossy(stamp)
                .lines()
                .filter_map(|line| line.split_once('\t').map(|(tag, _)| tag.to_owned()))
                .collect();
            Ok((Lookup::Hit(value), left, entry_tags))
        }
        [Value::Int(0), Value::Array(versions)] if versions.len() == tags.len() => {
            let versions = versions
                .iter()
                .zip(tags)
                .map(|(version, tag)| match version {
                    Value::BulkString(v) => std::str::from_utf8(v)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(|v| (tag.clone(), v))
                        .ok_or_else(|| corrupt("tag version")),
                    _ => Err(corrupt("tag version")),
                })
                .collect::<Result<_, _>>()?;
            Ok((
                Lookup::Miss(TagStamp {
                    versions,
                    local: Vec::new(),
                }),
                None,
                Vec::new(),
            ))
        }
        _ => Err(corrupt("unexpected shape")),
    }
}

fn stamp_field(stamp: &[(String, u64)]) -> Vec<u8> {
    let mut field = Vec::new();
    for (tag, version) in stamp {
        field.extend_from_slice(tag.as_bytes());
        field.push(b'\t');
        field.extend_from_slice(version.to_string().as_bytes());
        field.push(b'\n');
    }
    field
}

impl CacheStore for RedisCacheStore {
    fn lookup<'a>(&'a self, key: &'a [u8], tags: &'a [String]) -> StoreFuture<'a, Lookup> {
        Box::pin(async move { Ok(self.lookup_ttl(key, tags).await?.0) })
    }

    fn store<'a>(
        &'a self,
        key: &'a [u8],
        value: Bytes,
        ttl: Duration,
        stamp: TagStamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let entry = self.entry_key(key);
            let mut framed = Vec::with_capacity(1 + value.len());
            framed.push(FORMAT);
            framed.extend_from_slice(&value);
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("HSET")
                .arg(&entry)
                .arg("v")
                .arg(framed)
                .arg("t")
                .arg(stamp_field(&stamp.versions))
                .ignore()
                .cmd("PEXPIRE")
                .arg(&entry)
                .arg(millis(ttl.min(MAX_TTL)))
                .ignore();
            let mut conn = self.conn.clone();
            self.guarded(pipe.query_async::<()>(&mut conn)).await
        })
    }

    fn delete<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut message = Vec::with_capacity(1 + key.len());
            message.push(b'k');
            message.extend_from_slice(key);
            let mut pipe = redis::pipe();
            pipe.cmd("DEL")
                .arg(self.entry_key(key))
                .ignore()
                .cmd("PUBLISH")
                .arg(self.channel())
                .arg(message)
                .ignore();
            let mut conn = self.conn.clone();
            self.guarded(pipe.query_async::<()>(&mut conn)).await
        })
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if tags.is_empty() {
                return Ok(());
            }
            for tag in tags {
                check_tag(tag)?;
            }
            let mut invocation = self.invalidate.key(format!("{}seq", self.prefix));
            invocation
                .arg(format!("{}t:", self.prefix))
                .arg(millis(TAG_TTL))
                .arg(self.channel());
            for tag in tags {
                invocation.arg(tag.as_str());
            }
            let mut conn = self.conn.clone();
            self.guarded(invocation.invoke_async::<()>(&mut conn)).await
        })
    }

    fn stats(&self) -> CacheStats {
        self.stats.clone()
    }
}
