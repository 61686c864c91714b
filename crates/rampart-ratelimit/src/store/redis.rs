//! The shared store: GCRA in a Lua script on Redis, every policy of a request
//! decided in one round trip.

use std::{fmt, sync::Arc, time::Duration};

use rampart_core::Clock;
use redis::{Script, aio::ConnectionManager};

use super::{Demand, Outcome, Store, StoreError, StoreFuture, Verdict};

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
///   request's keys are decided atomically in one script. Redis Cluster
///   refuses a script over keys of several slots (`CROSSSLOT`); deciding per
///   slot, which gives up atomicity across slots, is not written yet.
///
/// Build one [`ConnectionManager`] and give clones of it to every store.
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
    connection: ConnectionManager,
    script: Arc<Script>,
    prefix: Arc<str>,
    clock: Option<Arc<dyn Clock>>,
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
        Self {
            connection,
            script: Arc::new(Script::new(SCRIPT)),
            prefix: Arc::from("rampart:rl:"),
            clock: None,
        }
    }

    /// Puts keys under `prefix` (one per application sharing a Redis).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// Tests only: the script takes its time from `clock` (wall-clock, in
    /// microseconds) instead of the server's `TIME`, so a test can move time
    /// with `ManualClock` on a real Redis.
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
        let mut connection = self.connection.clone();
        let count = demands.len();
        StoreFuture::pending(async move {
            let mut invocation = script.prepare_invoke();
            for key in &keys {
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
            let values: Vec<i64> = invocation
                .invoke_async(&mut connection)
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            if values.len() != count * 5 {
                return Err(StoreError::Protocol(format!(
                    "expected {} integers, got {}",
                    count * 5,
                    values.len()
                )));
            }
            Ok(values.chunks_exact(5).map(verdict).collect())
        })
    }
}
