//! The shared store: GCRA in a Lua script on Redis, every policy of a request
//! decided in one round trip.

use std::{fmt, sync::Arc, time::Duration};

use rampart_core::Clock;
use redis::{Script, aio::ConnectionManager};

use super::{Demand, Outcome, RateLimitStoreError, Store, StoreFuture, Verdict};

const SCRIPT: &str = include_str!("gcra.lua");

/// GCRA state in Redis, shared by every replica.
///
/// - One `EVALSHA` per request decides all of its policies together (all or
///   nothing); the `redis` crate's [`Script`] loads the script again when
///   Redis answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
/// - Time is the Redis server's `TIME`, in integer microseconds, so replicas
///   with skewed clocks agree and `remaining` is exact.
/// - Each key lives as long as it takes its quota to come back in full
///   (`PX` = time to full replenishment), so Redis holds no idle keys.
/// - Keys are `{prefix}{policy:key}`: the braces are a Redis Cluster hash
///   tag. With a single node (or a `ConnectionManager` to one primary) a
///   request's keys are decided atomically in one script.
/// - On Redis Cluster ([`RedisStore::cluster`]) a script may only touch keys
///   of one hash slot, so a request's keys are grouped by slot and each
///   group is decided by its own `EVALSHA`, all sent at once on the cluster
///   connection. **All-or-nothing then holds only within a slot**: when a
///   policy whose key is in one slot limits the request, policies whose keys
///   are in other slots have still been charged (the request spends their
///   quota although it is rejected). A request whose keys share a slot (one
///   policy, or keys that happen to share one) is decided exactly as on a
///   single node.
///
/// Build one [`ConnectionManager`] (or one cluster connection) and give
/// clones of it to every store.
///
/// # Example
///
/// ```no_run
/// use rampart_ratelimit::{FallbackStore, RedisStore};
///
/// # async fn run() -> redis::RedisResult<()> {
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let store = FallbackStore::new(RedisStore::new(connection).prefix("myapp:rl:"));
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    script: Arc<Script>,
    prefix: Arc<str>,
    clock: Option<Arc<dyn Clock>>,
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("script", &self.script.get_hash())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on `connection`, with keys under `rampart:rl:`.
    pub fn new(connection: ConnectionManager) -> Self {
        Self::on(Connection::Single(connection))
    }

    /// A store on a Redis Cluster connection, with keys under `rampart:rl:`.
    /// A request's keys are decided per hash slot (see above for what that
    /// gives up).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use rampart_ratelimit::{FallbackStore, RedisStore};
    ///
    /// # async fn run() -> redis::RedisResult<()> {
    /// let client = redis::cluster::ClusterClient::new(vec!["redis://127.0.0.1:7000/"])?;
    /// let connection = client.get_async_connection().await?;
    /// let store = FallbackStore::new(RedisStore::cluster(connection));
    /// # let _ = store; Ok(()) }
    /// ```
    #[cfg(feature = "cluster")]
    pub fn cluster(connection: redis::cluster_async::ClusterConnection) -> Self {
        Self::on(Connection::Cluster(connection))
    }

    fn on(connection: Connection) -> Self {
        Self {
            connection,
            script: Arc::new(Script::new(SCRIPT)),
            prefix: Arc::from("rampart:rl:"),
            clock: None,
        }
    }

    /// Puts keys under `prefix` (one per application sharing a Redis).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// Tests only: the script takes its time from `clock` (wall-clock, in
    /// microseconds) instead of the server's `TIME`, so a test can move time
    /// with `ManualClock` on a real Redis.
    #[must_use]
    pub fn clock_for_tests(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The SHA1 of the Lua script (what `EVALSHA` names, and what
    /// `redis-benchmark` can run to compare).
    pub fn script_sha(&self) -> &str {
        self.script.get_hash()
    }

    /// The Lua script's text.
    pub fn script_source() -> &'static str {
        SCRIPT
    }

    fn key(&self, demand: &Demand) -> String {
        format!("{}{{{}:{}}}", self.prefix, demand.policy, demand.key)
    }
}

fn verdict(values: &[i64]) -> Verdict {
    let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
    Verdict {
        outcome: if values[0] == 1 {
            Outcome::Admitted
        } else {
            Outcome::Limited
        },
        remaining: u64::try_from(values[1]).unwrap_or(0),
        reset: micros(values[2]),
        retry_after: micros(values[3]),
        granted: u64::try_from(values[4]).unwrap_or(0),
        fallback: false,
    }
}

impl Store for RedisStore {
    fn decide(&self, demands: &[Demand]) -> StoreFuture {
        self.decide_reserving(demands, &[])
    }

    fn decide_reserving(&self, demands: &[Demand], reserve: &[u32]) -> StoreFuture {
        let keys: Vec<String> = demands.iter().map(|d| self.key(d)).collect();
        let now = self.clock.as_ref().map_or_else(String::new, |clock| {
            clock
                .system_time()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros())
                .to_string()
        });
        let args: Vec<[u64; 5]> = demands
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let want = reserve.get(i).copied().unwrap_or(d.cost).max(d.cost);
                [
                    d.quota.interval_micros(),
                    d.quota.limit_micros(),
                    u64::from(d.cost),
                    u64::from(want),
                    u64::from(d.enforce),
                ]
            })
            .collect();
        let script = Arc::clone(&self.script);
        let connection = self.connection.clone();
        StoreFuture::pending(async move {
            match connection {
                Connection::Single(mut connection) => {
                    invoke(&script, &keys, &now, &args, &mut connection).await
                }
                #[cfg(feature = "cluster")]
                Connection::Cluster(connection) => {
                    cluster::decide(&script, keys, &now, &args, connection).await
                }
            }
        })
    }
}

/// One `EVALSHA` of the script over `keys` (all in one slot on a cluster).
async fn invoke<C: redis::aio::ConnectionLike>(
    script: &Script,
    keys: &[String],
    now: &str,
    args: &[[u64; 5]],
    connection: &mut C,
) -> Result<Vec<Verdict>, RateLimitStoreError> {
    let mut invocation = script.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    invocation.arg(now);
    for [interval, limit, cost, want, enforce] in args {
        invocation
            .arg(interval)
            .arg(limit)
            .arg(cost)
            .arg(want)
            .arg(enforce);
    }
    let values: Vec<i64> = match invocation.invoke_async(connection).await {
        Ok(values) => values,
        // `invoke_async` reloads the script once on NOSCRIPT and retries; when
        // another client flushed the cache again in between, the retry fails
        // too. `EVAL` carries the body and needs no cache, so it cannot race.
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            eval_cmd(keys, now, args)
                .query_async(connection)
                .await
                .map_err(|e| RateLimitStoreError::Backend(e.to_string()))?
        }
        Err(e) => return Err(RateLimitStoreError::Backend(e.to_string())),
    };
    if values.len() != keys.len() * 5 {
        return Err(RateLimitStoreError::Protocol(format!(
            "expected {} integers, got {}",
            keys.len() * 5,
            values.len()
        )));
    }
    Ok(values.chunks_exact(5).map(verdict).collect())
}

/// The same call as [`invoke`] as a plain `EVAL` with the script's body.
fn eval_cmd(keys: &[String], now: &str, args: &[[u64; 5]]) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(SCRIPT).arg(keys.len()).arg(keys).arg(now);
    for values in args {
        cmd.arg(&values[..]);
    }
    cmd
}

#[cfg(feature = "cluster")]
mod cluster {
    //! Redis Cluster: a request's keys grouped by hash slot, one script per slot.

    use redis::{Script, cluster_async::ClusterConnection};

    use super::{RateLimitStoreError, Verdict, invoke};

    /// The hash slot of `key`: CRC16 (XMODEM) of its hash tag (the text
    /// between the first `{` and the next `}`, when not empty) or of the
    /// whole key, modulo 16384, as Redis Cluster computes it. (The `redis`
    /// crate keeps its own function private.)
    pub(super) fn slot(key: &str) -> u16 {
        let bytes = key.as_bytes();
        let tag = bytes
            .iter()
            .position(|&b| b == b'{')
            .and_then(|open| {
                let rest = &bytes[open + 1..];
                let close = rest.iter().position(|&b| b == b'}')?;
                (close > 0).then(|| &rest[..close])
            })
            .unwrap_or(bytes);
        crc16::State::<crc16::XMODEM>::calculate(tag) % 16384
    }

    /// Decides `keys` with one script per slot, all sent together.
    pub(super) async fn decide(
        script: &Script,
        keys: Vec<String>,
        now: &str,
        args: &[[u64; 5]],
        connection: ClusterConnection,
    ) -> Result<Vec<Verdict>, RateLimitStoreError> {
        let slots: Vec<u16> = keys.iter().map(|k| slot(k)).collect();
        if slots.windows(2).all(|w| w[0] == w[1]) {
            let mut connection = connection;
            return invoke(script, &keys, now, args, &mut connection).await;
        }
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for (i, &s) in slots.iter().enumerate() {
            match groups.iter_mut().find(|(g, _)| *g == s) {
                Some((_, members)) => members.push(i),
                None => groups.push((s, vec![i])),
            }
        }
        let calls = groups.iter().map(|(_, members)| {
            let keys: Vec<String> = members.iter().map(|&i| keys[i].clone()).collect();
            let args: Vec<[u64; 5]> = members.iter().map(|&i| args[i]).collect();
            let mut connection = connection.clone();
            async move { invoke(script, &keys, now, &args, &mut connection).await }
        });
        let answers = futures_util::future::try_join_all(calls).await?;
        let mut verdicts: Vec<Option<Verdict>> = vec![None; keys.len()];
        for ((_, members), answer) in groups.iter().zip(answers) {
            for (&i, v) in members.iter().zip(answer) {
                verdicts[i] = Some(v);
            }
        }
        verdicts
            .into_iter()
            .map(|v| {
                v.ok_or_else(|| RateLimitStoreError::Protocol("a slot's verdict is missing".into()))
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::slot;

        #[test]
        fn slots_match_redis_cluster() {
            // Values from `CLUSTER KEYSLOT` on Redis 7.
            assert_eq!(slot("foo"), 12182);
            assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
            assert_eq!(slot("{user1000}.following"), slot("user1000"));
            // An empty tag does not count: the whole key is hashed.
            assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
            assert_ne!(slot("foo{}{bar}"), slot("bar"));
            assert_eq!(slot("prefix:{api:192.0.2.1}"), slot("api:192.0.2.1"));
        }
    }
}
