//! Monthly counters in Redis, shared by every replica.

use std::{sync::Arc, time::Duration};

use redis::{Script, aio::ConnectionManager};

use super::{Charge, MonthlyFuture, MonthlyStore, QuotaStoreError, Usage};

const SCRIPT: &str = include_str!("monthly.lua");

/// Monthly counters in Redis: one Lua script (`EVALSHA`, loaded again after
/// a restart or `SCRIPT FLUSH`) checks and increments atomically, so
/// replicas together never pass a limit.
///
/// - Keys are `{prefix}{tenant}:quota:YYYY-MM`; the braces make the tenant
///   a Redis Cluster hash tag.
/// - The month is the calendar month in UTC of the app's clock. Each key
///   expires a day after its month ends (the day absorbs clock skew
///   between replicas around midnight), so Redis keeps no old months.
/// - When Redis fails the request is answered 503 (fail closed: a quota
///   that cannot be counted is not handed out).
///
/// # Example
///
/// ```no_run
/// use rampart_tenant::{Quotas, RedisMonthlyStore};
///
/// # async fn run() -> redis::RedisResult<()> {
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let quotas = Quotas::new(RedisMonthlyStore::new(connection).prefix("myapp:quota:"));
/// # let _ = quotas; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisMonthlyStore {
    connection: ConnectionManager,
    script: Arc<Script>,
    prefix: Arc<str>,
}

impl std::fmt::Debug for RedisMonthlyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisMonthlyStore")
            .field("prefix", &self.prefix)
            .field("script", &self.script.get_hash())
            .finish_non_exhaustive()
    }
}

/// How long a key outlives its month.
const GRACE: Duration = Duration::from_secs(86_400);

impl RedisMonthlyStore {
    /// A store on `connection`, keys under `rampart:quota:`.
    pub fn new(connection: ConnectionManager) -> Self {
        Self {
            connection,
            script: Arc::new(Script::new(SCRIPT)),
            prefix: Arc::from("rampart:quota:"),
        }
    }

    /// Puts keys under `prefix` (one per application sharing a Redis).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// The key of a tenant's quota for a month.
    pub fn key(&self, charge: &Charge<'_>) -> String {
        format!(
            "{}{{{}}}:{}:{}",
            self.prefix, charge.tenant, charge.quota, charge.month
        )
    }
}

impl MonthlyStore for RedisMonthlyStore {
    fn charge(&self, charge: &Charge<'_>) -> MonthlyFuture {
        let key = self.key(charge);
        let expire_at = charge.month.next().start_unix() + GRACE.as_secs();
        let (limit, cost) = (charge.limit, charge.cost);
        let script = Arc::clone(&self.script);
        let mut connection = self.connection.clone();
        MonthlyFuture::pending(async move {
            let mut invocation = script.prepare_invoke();
            invocation.key(&key).arg(limit).arg(cost).arg(expire_at);
            let values: Vec<u64> = match invocation.invoke_async(&mut connection).await {
                Ok(values) => values,
                // `invoke_async` reloads the script once on NOSCRIPT; when
                // another client flushed the cache again in between, the
                // retry fails too. `EVAL` carries the body and cannot race.
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    redis::cmd("EVAL")
                        .arg(SCRIPT)
                        .arg(1)
                        .arg(&key)
                        .arg(limit)
                        .arg(cost)
                        .arg(expire_at)
                        .query_async(&mut connection)
                        .await
                        .map_err(|e| QuotaStoreError::Backend(e.to_string()))?
                }
                Err(e) => return Err(QuotaStoreError::Backend(e.to_string())),
            };
            match values[..] {
                [admitted, used] => Ok(Usage {
                    admitted: admitted == 1,
                    used,
                }),
                _ => Err(QuotaStoreError::Backend(format!(
                    "expected 2 integers from the script, got {}",
                    values.len()
                ))),
            }
        })
    }
}
