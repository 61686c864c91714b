//! Two tiers: a memory copy in each replica in front of the shared Redis.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::{sync::oneshot, task::JoinHandle};

use super::{
    CacheStore, LocalHit, Lookup, MemoryCacheStore, RedisCacheStore, StoreFuture, TagStamp,
};
use crate::CacheStats;

#[derive(Debug)]
struct Inner {
    local: MemoryCacheStore,
    remote: RedisCacheStore,
    local_ttl: Duration,
    subscriber: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

/// A [`MemoryCacheStore`] in front of Redis: hits are served from the
/// replica's own memory without a round trip; misses go to Redis, and what
/// Redis has is copied locally for at most the *local TTL* (default 5 s).
///
/// Invalidation (a tag or a key) is written to Redis and announced on a
/// pub/sub channel; every replica's subscriber drops its local copies when
/// the message arrives. A message can be lost (the subscription was down, a
/// replica was stalled): the local TTL is the bound on how long a replica
/// may then serve a copy that Redis no longer holds, and every time the
/// subscription is (re)established the local tier is emptied, since
/// messages may have been missed meanwhile. The replica that invalidates
/// drops its own copies at once, before the call returns.
///
/// While Redis is unavailable, local copies are still served; misses are
/// computed without the cache.
#[derive(Debug, Clone)]
pub struct TwoTierCacheStore {
    inner: Arc<Inner>,
}

impl TwoTierCacheStore {
    /// Subscribes to `remote`'s invalidation channel through `client` (a
    /// pub/sub connection of its own) and waits up to two seconds for the
    /// subscription, then returns either way (the subscriber keeps
    /// retrying in the background; until it succeeds, the local TTL bounds
    /// staleness). `local_bytes` bounds the local tier.
    pub async fn new(client: redis::Client, remote: RedisCacheStore, local_bytes: u64) -> Self {
        Self::with_local_ttl(client, remote, local_bytes, Duration::from_secs(5)).await
    }

    /// The same, with the local copies kept at most `local_ttl`.
    pub async fn with_local_ttl(
        client: redis::Client,
        remote: RedisCacheStore,
        local_bytes: u64,
        local_ttl: Duration,
    ) -> Self {
        let local = MemoryCacheStore::new(local_bytes);
        let (ready, subscribed) = oneshot::channel();
        let subscriber = tokio::spawn(subscribe(
            client,
            remote.channel(),
            local.clone(),
            Some(ready),
        ));
        let _ = tokio::time::timeout(Duration::from_secs(2), subscribed).await;
        Self {
            inner: Arc::new(Inner {
                local,
                remote,
                local_ttl,
                subscriber,
            }),
        }
    }

    /// The local tier (its entry count and size, for tests and dashboards).
    pub fn local(&self) -> &MemoryCacheStore {
        &self.inner.local
    }

    /// The shared tier.
    pub fn remote(&self) -> &RedisCacheStore {
        &self.inner.remote
    }
}

/// Keeps a subscription to `channel`, applying each message to `local`.
async fn subscribe(
    client: redis::Client,
    channel: String,
    local: MemoryCacheStore,
    mut ready: Option<oneshot::Sender<()>>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(2), subscribed).await {
            Ok(Ok(mut pubsub)) => {
                backoff = Duration::from_millis(50);
                // Whatever was announced while we were not listening is lost.
                local.clear();
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    apply(&local, message.get_payload_bytes());
                }
                tracing::debug!(%channel, "cache invalidation subscription lost; resubscribing");
                local.clear();
            }
            Ok(Err(error)) => {
                tracing::debug!(%channel, %error, "cache invalidation subscription failed");
            }
            Err(_) => tracing::debug!(%channel, "cache invalidation subscription timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

fn apply(local: &MemoryCacheStore, payload: &[u8]) {
    match payload.split_first() {
        Some((b't', tag)) => {
            if let Ok(tag) = std::str::from_utf8(tag) {
                local.invalidate_now(&[tag.to_owned()]);
            }
        }
        Some((b'k', key)) => local.delete_now(key),
        _ => {}
    }
}

impl CacheStore for TwoTierCacheStore {
    fn lookup<'a>(&'a self, key: &'a [u8], tags: &'a [String]) -> StoreFuture<'a, Lookup> {
        Box::pin(async move {
            let inner = &*self.inner;
            // Read before Redis is: an invalidation that arrives meanwhile
            // keeps the copy below out of the local tier, and makes a value
            // computed after a miss a local miss.
            let generation = inner.local.generation();
            let local_stamp = match inner.local.lookup_now(key, tags) {
                Lookup::Hit(value) => return Ok(Lookup::Hit(value)),
                Lookup::Miss(stamp) => stamp.versions,
            };
            match inner.remote.lookup_ttl(key, tags).await? {
                (Lookup::Hit(value), left, entry_tags) => {
                    // The copy carries the entry's own tags, which may not
                    // be the ones this lookup named (`get` names none).
                    let ttl = left.map_or(inner.local_ttl, |left| left.min(inner.local_ttl));
                    if !ttl.is_zero() {
                        inner
                            .local
                            .insert_copy(key, value.clone(), ttl, &entry_tags, generation);
                    }
                    Ok(Lookup::Hit(value))
                }
                (Lookup::Miss(mut stamp), _, _) => {
                    stamp.local = local_stamp;
                    Ok(Lookup::Miss(stamp))
                }
            }
        })
    }

    #[inline]
    fn lookup_local(&self, key: &[u8]) -> Option<LocalHit> {
        self.inner.local.lookup_local(key)
    }

    #[inline]
    fn lookup_local_at(&self, key: &[u8], now: Instant) -> Option<LocalHit> {
        self.inner.local.lookup_local_at(key, now)
    }

    fn store<'a>(
        &'a self,
        key: &'a [u8],
        value: Bytes,
        ttl: Duration,
        stamp: TagStamp,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let inner = &*self.inner;
            let local_stamp = stamp.local.clone();
            inner.remote.store(key, value.clone(), ttl, stamp).await?;
            inner
                .local
                .store_now(key, value, ttl.min(inner.local_ttl), local_stamp);
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner.local.delete_now(key);
            self.inner.remote.delete(key).await
        })
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            for tag in tags {
                crate::error::check_tag(tag)?;
            }
            self.inner.local.invalidate_now(tags);
            self.inner.remote.invalidate_tags(tags).await
        })
    }

    fn stats(&self) -> CacheStats {
        self.inner.local.stats()
    }
}
