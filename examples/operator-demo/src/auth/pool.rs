//! How many argon2id hashes run at once: a bound on the CPU and memory that
//! password work can take, whoever asks for it.
//!
//! Each argon2id hash or verification holds 19 MiB and a core for tens of
//! milliseconds. Unbounded, every admitted login takes a thread of tokio's
//! blocking pool (512 of them): 400 concurrent logins took the release demo
//! to 7.5 GiB resident. [`PasswordPool`] runs them on the blocking pool at
//! most `PASSWORD_HASH_CONCURRENCY` at once (the cores, by default); a
//! request that finds every permit taken waits up to
//! `PASSWORD_HASH_WAIT_MS`, then gets a 503 with `Retry-After` (through
//! [`ApiError`](crate::api::ApiError)). The memory that hashing takes is
//! therefore at most `permits × 19 MiB` (docs/configuration.md).
//!
//! The permit travels into the blocking task and is released when the hash
//! is done, not when the request is: a client that disconnects mid-login
//! does not free a slot while its hash still runs. Each permit works in a
//! [`HashMemory`] of its own, allocated on its first hash and reused by the
//! next ones: the allocator never sees a 19 MiB block freed (glibc keeps
//! such blocks resident in per-thread arenas: measured, 16 hashes two at a
//! time left 330 MiB resident), so what hashing holds is the buffers,
//! `permits × 19 MiB`, once the permits have all been used.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};
use tokio::sync::Semaphore;

use super::password::{self, HashMemory, PasswordError};

/// The default wait for a permit, `PASSWORD_HASH_WAIT_MS`.
pub const DEFAULT_HASH_WAIT: Duration = Duration::from_millis(300);

/// The memory one argon2id hash with the demo's parameters holds, in bytes
/// (m = 19456 KiB): the unit of the bound `permits × HASH_MEMORY_BYTES`.
pub const HASH_MEMORY_BYTES: u64 = 19_456 * 1024;

/// Why password work was not done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Every permit stayed taken for the whole wait: answer 503, retry later.
    #[error("too many password checks at once; retry shortly")]
    Busy,
    /// The hashing task panicked or the runtime is shutting down.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Runs argon2id on tokio's blocking pool, at most `permits` at once; see
/// the [module docs](self). Cheap to clone: clones share the permits and the
/// metrics.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use operator_demo::auth::PasswordPool;
///
/// let pool = PasswordPool::new(2, Duration::from_millis(300));
/// let hash = pool.hash("correct horse".into()).await.unwrap().unwrap();
/// assert!(pool.verify("correct horse".into(), Some(hash.clone())).await.unwrap());
/// assert!(!pool.verify("battery staple".into(), Some(hash)).await.unwrap());
/// // No stored hash (an unknown email): the same work, and `false`.
/// assert!(!pool.verify("correct horse".into(), None).await.unwrap());
/// assert_eq!((pool.permits(), pool.running(), pool.peak()), (2, 0, 1));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PasswordPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    semaphore: Arc<Semaphore>,
    permits: usize,
    wait: Duration,
    /// The permits' working memory: taken by a hash, put back after it; at
    /// most `permits` exist, as no more hashes run at once.
    memory: Mutex<Vec<HashMemory>>,
    metrics: PoolMetrics,
}

/// `password_hash_*`: what `/metrics` shows of the pool.
#[derive(Debug, Clone, Default)]
struct PoolMetrics {
    permits: Gauge,
    running: Gauge,
    peak: Gauge,
    busy: Counter,
}

impl Default for PasswordPool {
    /// As many permits as the machine has cores, [`DEFAULT_HASH_WAIT`].
    fn default() -> Self {
        Self::new(default_permits(), DEFAULT_HASH_WAIT)
    }
}

/// The cores this process may use (at least 1): `PASSWORD_HASH_CONCURRENCY`'s
/// default.
pub fn default_permits() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl PasswordPool {
    /// At most `permits` hashes at once (at least 1); a caller waits up to
    /// `wait` for one.
    pub fn new(permits: usize, wait: Duration) -> Self {
        let permits = permits.clamp(1, Semaphore::MAX_PERMITS);
        let metrics = PoolMetrics::default();
        metrics
            .permits
            .set(i64::try_from(permits).unwrap_or(i64::MAX));
        Self {
            inner: Arc::new(Inner {
                semaphore: Arc::new(Semaphore::new(permits)),
                permits,
                wait,
                memory: Mutex::new(Vec::new()),
                metrics,
            }),
        }
    }

    /// Hashes `password` with a fresh salt ([`password::hash_password`]).
    ///
    /// # Errors
    ///
    /// [`PoolError::Busy`] when no permit came within the wait.
    pub async fn hash(&self, password: String) -> Result<Result<String, PasswordError>, PoolError> {
        self.run(move |memory| password::hash_password_in(&password, memory))
            .await
    }

    /// Whether `password` matches `hash`; with `None` (no such account) the
    /// same work against a fixed hash, and `false`
    /// ([`password::dummy_verify`]): both cost one verification under one
    /// permit, so neither the time nor a 503 tells which emails exist.
    ///
    /// # Errors
    ///
    /// [`PoolError::Busy`] when no permit came within the wait.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, PoolError> {
        self.run(move |memory| match hash {
            Some(hash) => password::verify_password_in(&password, &hash, memory),
            None => password::dummy_verify_in(&password, memory),
        })
        .await
    }

    /// Runs `work` on the blocking pool once a permit is free, in the
    /// permit's memory.
    async fn run<T, F>(&self, work: F) -> Result<T, PoolError>
    where
        F: FnOnce(&mut HashMemory) -> T + Send + 'static,
        T: Send + 'static,
    {
        let acquire = Arc::clone(&self.inner.semaphore).acquire_owned();
        let permit = match tokio::time::timeout(self.inner.wait, acquire).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(closed)) => return Err(PoolError::Failed(closed.to_string())),
            Err(_elapsed) => {
                self.inner.metrics.busy.inc();
                return Err(PoolError::Busy);
            }
        };
        let inner = Arc::clone(&self.inner);
        // The permit moves into the task: dropping this future (a client gone)
        // leaves it held until the hash, which keeps running, is done.
        tokio::task::spawn_blocking(move || {
            let done = {
                // Counted down before the permit goes, so that the gauge
                // never shows more than the permits.
                let _running = Running::start(&inner.metrics);
                let mut memory = inner.take_memory();
                let done = work(&mut memory);
                inner.put_memory(memory);
                done
            };
            drop(permit);
            done
        })
        .await
        .map_err(|err| PoolError::Failed(err.to_string()))
    }

    /// The most hashes run at once.
    pub fn permits(&self) -> usize {
        self.inner.permits
    }

    /// Hashes running now.
    pub fn running(&self) -> i64 {
        self.inner.metrics.running.get()
    }

    /// The most hashes that ran at once since the process started.
    pub fn peak(&self) -> i64 {
        self.inner.metrics.peak.get()
    }

    /// Requests answered 503 because no permit came within the wait.
    pub fn busy(&self) -> u64 {
        self.inner.metrics.busy.get()
    }

    /// Adds `password_hash_permits`, `password_hashes_running`,
    /// `password_hashes_running_peak` and `password_hash_busy_total` to
    /// `registry`.
    ///
    /// ```
    /// use operator_demo::auth::PasswordPool;
    /// use prometheus_client::{encoding::text::encode, registry::Registry};
    ///
    /// let pool = PasswordPool::new(3, std::time::Duration::ZERO);
    /// let mut registry = Registry::default();
    /// pool.register(&mut registry);
    /// let mut text = String::new();
    /// encode(&mut text, &registry).unwrap();
    /// assert!(text.contains("password_hash_permits 3"), "{text}");
    /// assert!(text.contains("password_hashes_running_peak 0"), "{text}");
    /// ```
    pub fn register(&self, registry: &mut Registry) {
        let metrics = &self.inner.metrics;
        registry.register(
            "password_hash_permits",
            "The most argon2id hashes run at once (PASSWORD_HASH_CONCURRENCY)",
            metrics.permits.clone(),
        );
        registry.register(
            "password_hashes_running",
            "argon2id hashes and verifications running now",
            metrics.running.clone(),
        );
        registry.register(
            "password_hashes_running_peak",
            "The most argon2id hashes that ran at once since the process started",
            metrics.peak.clone(),
        );
        registry.register(
            "password_hash_busy",
            "Requests answered 503 because every hashing permit stayed taken for PASSWORD_HASH_WAIT_MS",
            metrics.busy.clone(),
        );
    }
}

impl Inner {
    fn take_memory(&self) -> HashMemory {
        // A panic while the list was locked left it whole: use it as is.
        let mut list = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        list.pop().unwrap_or_default()
    }

    fn put_memory(&self, memory: HashMemory) {
        let mut list = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(memory);
    }
}

/// Counts one running hash for as long as it lives, and raises the peak.
struct Running<'a>(&'a PoolMetrics);

impl<'a> Running<'a> {
    fn start(metrics: &'a PoolMetrics) -> Self {
        let now = metrics.running.inc() + 1;
        let peak: &AtomicI64 = metrics.peak.inner();
        peak.fetch_max(now, Ordering::Relaxed);
        Self(metrics)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.dec();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_permits_and_the_excess_is_busy() {
        let pool = PasswordPool::new(2, Duration::from_millis(50));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (pool, now, most) = (pool.clone(), now.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move |_| {
                    let at = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(at, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    now.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut busy = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => {}
                Err(PoolError::Busy) => busy += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(busy, 6);
        assert_eq!((pool.peak(), pool.running(), pool.busy()), (2, 0, 6));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_caller_keeps_its_permit_until_the_hash_ends() {
        let pool = PasswordPool::new(1, Duration::from_millis(20));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |_| {
                    let _ = wait.recv();
                })
                .await
            }
        });
        while pool.running() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        first.abort();
        let _ = first.await;
        // The request is gone, its hash is not: no permit for anyone else.
        assert!(matches!(pool.run(|_| ()).await, Err(PoolError::Busy)));
        release.send(()).unwrap();
        while pool.running() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        pool.run(|_| ()).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_permit_keeps_one_buffer() {
        let pool = PasswordPool::new(2, Duration::from_secs(60));
        let mut tasks = Vec::new();
        for n in 0..6 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                pool.hash(format!("password {n}")).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap().unwrap();
        }
        let buffers = pool.inner.memory.lock().unwrap();
        assert!((1..=2).contains(&buffers.len()), "{}", buffers.len());
        assert!(buffers.iter().all(|m| m.bytes() == 19_456 * 1024));
    }
}
