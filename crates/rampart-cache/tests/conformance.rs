//! One suite that every store passes, against a real Redis (`REDIS_URL`):
//! the memory store, the Redis store and the two-tier store.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;
use rampart_cache::{
    Cache, CacheError, CacheOutcome, CacheStore, LocalHit, Lookup, MemoryCacheStore, Namespace,
};
use serde::{Deserialize, Serialize};

async fn memory(_test: &str) -> Option<Arc<dyn CacheStore>> {
    Some(Arc::new(MemoryCacheStore::new(16 << 20)))
}

async fn redis(test: &str) -> Option<Arc<dyn CacheStore>> {
    let url = redis_url()?;
    Some(Arc::new(redis_store(&url, &unique_prefix(test)).await))
}

async fn two_tier(test: &str) -> Option<Arc<dyn CacheStore>> {
    let url = redis_url()?;
    Some(Arc::new(common::two_tier(&url, &unique_prefix(test)).await))
}

fn tags(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| (*t).to_owned()).collect()
}

async fn miss_stamp(
    store: &dyn CacheStore,
    key: &[u8],
    tags: &[String],
) -> rampart_cache::TagStamp {
    match store.lookup(key, tags).await.unwrap() {
        Lookup::Miss(stamp) => stamp,
        Lookup::Hit(value) => panic!("expected a miss, found {value:?}"),
    }
}

async fn is_miss(store: &dyn CacheStore, key: &[u8], tags: &[String]) -> bool {
    matches!(store.lookup(key, tags).await.unwrap(), Lookup::Miss(_))
}

async fn store_then_hit(store: Arc<dyn CacheStore>) {
    let t = tags(&["a"]);
    let stamp = miss_stamp(&*store, b"k1", &t).await;
    store
        .store(b"k1", "value".into(), Duration::from_secs(60), stamp)
        .await
        .unwrap();
    assert_eq!(
        store.lookup(b"k1", &t).await.unwrap(),
        Lookup::Hit("value".into())
    );
    assert!(is_miss(&*store, b"k2", &t).await, "another key");
    // Binary keys and values, an empty value.
    let stamp = miss_stamp(&*store, b"\x00\n\xff", &[]).await;
    store
        .store(b"\x00\n\xff", "".into(), Duration::from_secs(60), stamp)
        .await
        .unwrap();
    assert_eq!(
        store.lookup(b"\x00\n\xff", &[]).await.unwrap(),
        Lookup::Hit("".into())
    );
}

async fn ttl_expires(store: Arc<dyn CacheStore>) {
    let stamp = miss_stamp(&*store, b"short", &[]).await;
    store
        .store(b"short", "v".into(), Duration::from_millis(300), stamp)
        .await
        .unwrap();
    let stamp = miss_stamp(&*store, b"long", &[]).await;
    store
        .store(b"long", "v".into(), Duration::from_secs(600), stamp)
        .await
        .unwrap();
    // Expiry is asserted only as "eventually", long after the TTL.
    let mut expired = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if is_miss(&*store, b"short", &[]).await {
            expired = true;
            break;
        }
    }
    assert!(expired, "a 300 ms entry still there after 5 s");
    assert!(!is_miss(&*store, b"long", &[]).await);
}

/// `lookup_local_at` is `lookup_local` at the time it is given: the same
/// answer now, no local copy past the entry's TTL.
async fn local_lookup_at_a_given_time(store: Arc<dyn CacheStore>) {
    let stamp = miss_stamp(&*store, b"local", &[]).await;
    store
        .store(b"local", "v".into(), Duration::from_secs(60), stamp)
        .await
        .unwrap();
    // A lookup first: the two-tier store keeps a local copy of what it reads.
    assert_eq!(
        store.lookup(b"local", &[]).await.unwrap(),
        Lookup::Hit("v".into())
    );
    let value = |hit: Option<LocalHit>| hit.map(|hit| hit.value().clone());
    let now = Instant::now();
    assert_eq!(
        value(store.lookup_local_at(b"local", now)),
        value(store.lookup_local(b"local"))
    );
    assert_eq!(
        value(store.lookup_local_at(b"local", now + Duration::from_secs(61))),
        None
    );
}

async fn delete_removes(store: Arc<dyn CacheStore>) {
    let stamp = miss_stamp(&*store, b"d", &[]).await;
    store
        .store(b"d", "v".into(), Duration::from_secs(60), stamp)
        .await
        .unwrap();
    store.delete(b"d").await.unwrap();
    assert!(is_miss(&*store, b"d", &[]).await);
    store.delete(b"never-there").await.unwrap();
}

async fn invalidate_by_tag(store: Arc<dyn CacheStore>) {
    for (key, key_tags) in [
        (&b"ab"[..], &["a", "b"][..]),
        (b"b", &["b"]),
        (b"c", &["c"]),
        (b"none", &[]),
    ] {
        let key_tags = tags(key_tags);
        let stamp = miss_stamp(&*store, key, &key_tags).await;
        store
            .store(key, "v".into(), Duration::from_secs(60), stamp)
            .await
            .unwrap();
    }
    store.invalidate_tags(&tags(&["b"])).await.unwrap();
    assert!(is_miss(&*store, b"ab", &tags(&["a", "b"])).await);
    assert!(is_miss(&*store, b"b", &tags(&["b"])).await);
    assert!(
        !is_miss(&*store, b"c", &tags(&["c"])).await,
        "other tags stay"
    );
    assert!(!is_miss(&*store, b"none", &[]).await);
    // Stored again after the invalidation: valid again.
    let stamp = miss_stamp(&*store, b"b", &tags(&["b"])).await;
    store
        .store(b"b", "v2".into(), Duration::from_secs(60), stamp)
        .await
        .unwrap();
    assert_eq!(
        store.lookup(b"b", &tags(&["b"])).await.unwrap(),
        Lookup::Hit("v2".into())
    );
    // No tags: nothing to do.
    store.invalidate_tags(&[]).await.unwrap();
}

async fn invalidation_during_compute_wins(store: Arc<dyn CacheStore>) {
    let t = tags(&["campaign:1"]);
    let stamp = miss_stamp(&*store, b"race", &t).await;
    // A write invalidates while the value is being computed...
    store.invalidate_tags(&t).await.unwrap();
    // ...so the value computed from the old data is stored as a miss.
    store
        .store(b"race", "old".into(), Duration::from_secs(60), stamp)
        .await
        .unwrap();
    assert!(is_miss(&*store, b"race", &t).await);
}

async fn invalid_tags_are_refused(store: Arc<dyn CacheStore>) {
    for bad in ["", "a\tb", "a\nb", &"x".repeat(300)] {
        let err = store.invalidate_tags(&tags(&[bad])).await.unwrap_err();
        assert!(matches!(err, CacheError::InvalidTag(_)), "{bad:?}: {err}");
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Script {
    id: u32,
    text: String,
}

async fn typed_api(store: Arc<dyn CacheStore>) {
    let cache = Cache::from_arc(store);
    let scripts = cache.namespace(Namespace::campaign_scripts());
    let script = Script {
        id: 7,
        text: "Hello".into(),
    };
    assert_eq!(scripts.get::<Script>("7").await.unwrap(), None);
    scripts.set("7", &script).await.unwrap();
    assert_eq!(
        scripts.get::<Script>("7").await.unwrap(),
        Some(script.clone())
    );
    // Another namespace, or another version of the type, shares nothing.
    let prefs = cache.namespace(Namespace::user_preferences());
    assert_eq!(prefs.get::<Script>("7").await.unwrap(), None);
    let v2 = cache.namespace(Namespace::campaign_scripts().version(2));
    assert_eq!(v2.get::<Script>("7").await.unwrap(), None);
    // A value of another type is a miss, not an error.
    assert_eq!(scripts.get::<Vec<u8>>("7").await.unwrap(), None);
    scripts.delete("7").await.unwrap();
    assert_eq!(scripts.get::<Script>("7").await.unwrap(), None);

    scripts
        .set_with("8", &script, Duration::from_secs(60), &["campaign:8"])
        .await
        .unwrap();
    assert!(scripts.get::<Script>("8").await.unwrap().is_some());
    cache.invalidate_tags(["campaign:8"]).await.unwrap();
    assert_eq!(scripts.get::<Script>("8").await.unwrap(), None);

    let stats = cache.stats();
    assert!(stats.get("campaign_scripts", CacheOutcome::Hit).unwrap() >= 2);
    assert_eq!(stats.get("campaign_scripts", CacheOutcome::Error), Some(1));
}

async fn size_cap(store: Arc<dyn CacheStore>) {
    let cache = Cache::from_arc(store);
    let small =
        cache.namespace(Namespace::new("small", Duration::from_secs(60)).max_value_bytes(16));
    let err = small.set("k", &"x".repeat(100)).await.unwrap_err();
    assert_eq!(err, CacheError::TooLarge { size: 102, max: 16 });
    // get_or_compute returns a value too large to store, and stores nothing.
    let value: String = small
        .get_or_compute("k", &[], || async { Ok::<_, ()>("y".repeat(100)) })
        .await
        .unwrap();
    assert_eq!(value.len(), 100);
    assert_eq!(small.get::<String>("k").await.unwrap(), None);
}

async fn single_flight(store: Arc<dyn CacheStore>) {
    let cache = Cache::from_arc(store);
    let ns = cache.namespace(Namespace::api_responses());
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let ns = ns.clone();
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                ns.get_or_compute("hot", &["hot"], || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, ()>(42u32)
                })
                .await
                .unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 42);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A failing computation is retried by the next caller, not cached.
    let failed = ns
        .get_or_compute("cold", &[], || async { Err::<u32, _>("db down") })
        .await;
    assert_eq!(failed, Err("db down"));
    let ok = ns
        .get_or_compute("cold", &[], || async { Ok::<u32, &str>(1) })
        .await;
    assert_eq!(ok, Ok(1));
}

macro_rules! conformance {
    ($($store:ident),*) => {
        $(
            mod $store {
                macro_rules! case {
                    ($name:ident) => {
                        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                        async fn $name() {
                            let Some(store) = super::$store(stringify!($name)).await else { return };
                            super::$name(store).await;
                        }
                    };
                }

                case!(store_then_hit);
                case!(ttl_expires);
                case!(local_lookup_at_a_given_time);
                case!(delete_removes);
                case!(invalidate_by_tag);
                case!(invalidation_during_compute_wins);
                case!(invalid_tags_are_refused);
                case!(typed_api);
                case!(size_cap);
                case!(single_flight);
            }
        )*
    };
}

conformance!(memory, redis, two_tier);

/// Two replicas sharing Redis: an invalidation on one drops the other's
/// local copy (pub/sub), a delete too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tier_replicas_see_each_others_invalidations() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("replicas");
    let a = Cache::new(common::two_tier(&url, &prefix).await);
    let b_store = common::two_tier(&url, &prefix).await;
    let b = Cache::new(b_store.clone());
    let (na, nb) = (
        a.namespace(Namespace::provider_settings()),
        b.namespace(Namespace::provider_settings()),
    );
    na.set_with("twilio", &1u32, Duration::from_secs(60), &["provider"])
        .await
        .unwrap();
    nb.set("plain", &1u32).await.unwrap();
    // B reads it: now a local copy in B.
    assert_eq!(nb.get::<u32>("twilio").await.unwrap(), Some(1));
    assert!(b_store.local().entry_count() >= 1);
    na.set_with("twilio", &2u32, Duration::from_secs(60), &["provider"])
        .await
        .unwrap();
    a.invalidate_tags(["provider"]).await.unwrap();
    na.delete("plain").await.unwrap();
    // The message reaches B within a moment; B's local TTL is 5 s, so
    // seeing the change well before that is the pub/sub at work.
    let mut seen = false;
    for _ in 0..40 {
        if nb.get::<u32>("twilio").await.unwrap().is_none()
            && nb.get::<u32>("plain").await.unwrap().is_none()
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen,
        "B still serves its local copies 2 s after the invalidation"
    );
}
