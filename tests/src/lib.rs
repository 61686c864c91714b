//! Helpers shared by the integration tests: where the real services are,
//! whether a test may skip when one is missing, free loopback ports, and the
//! operator-demo program run as a child process.
//!
//! `scripts/test` starts Redis and Postgres, exports `REDIS_URL` and
//! `DATABASE_URL`, and sets `RAMPART_REQUIRE_SERVICES=1`: there a missing
//! service fails the test. Under a plain `cargo test` without the URLs the
//! tests that need them print why and return early.
//!
//! # Example
//!
//! ```
//! if let Some(url) = rampart_tests::redis_url() {
//!     assert!(url.starts_with("redis://"));
//! }
//! let port = rampart_tests::free_port();
//! assert_ne!(port, 0);
//! ```

pub mod cluster;
pub mod proxy;

use std::{
    fs::File,
    io,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// The variable that turns a missing service from a skip into a failure.
pub const REQUIRE_SERVICES_VAR: &str = "RAMPART_REQUIRE_SERVICES";

/// Whether a missing service must fail the test (`RAMPART_REQUIRE_SERVICES=1`).
///
/// ```
/// // Whatever the environment says, it is a yes or a no.
/// let _: bool = rampart_tests::services_required();
/// ```
pub fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES_VAR).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// `REDIS_URL`, or `None` after printing why the test skips.
///
/// # Panics
///
/// When `REDIS_URL` is unset and [`services_required`].
///
/// ```
/// let Some(url) = rampart_tests::redis_url() else { return };
/// assert!(!url.is_empty());
/// ```
#[track_caller]
pub fn redis_url() -> Option<String> {
    service_url("REDIS_URL", "Redis")
}

/// `DATABASE_URL`, or `None` after printing why the test skips.
///
/// # Panics
///
/// When `DATABASE_URL` is unset and [`services_required`].
///
/// ```
/// let Some(url) = rampart_tests::database_url() else { return };
/// assert!(!url.is_empty());
/// ```
#[track_caller]
pub fn database_url() -> Option<String> {
    service_url("DATABASE_URL", "Postgres")
}

/// `DATABASE_REPLICA_URL`: the superuser URL of a streaming hot standby of
/// `DATABASE_URL`'s cluster (scripts/test starts one with
/// `start_postgres_replica` of scripts/lib.sh), or `None` after printing why
/// the test skips.
///
/// # Panics
///
/// When `DATABASE_REPLICA_URL` is unset and [`services_required`].
///
/// ```
/// let Some(url) = rampart_tests::database_replica_url() else { return };
/// assert!(url.starts_with("postgres"));
/// ```
#[track_caller]
pub fn database_replica_url() -> Option<String> {
    service_url("DATABASE_REPLICA_URL", "Postgres read replica")
}

/// `DATABASE_REPLICA_CTL`: a program that takes `stop` or `start` and does
/// that to the replica of [`database_replica_url`], returning once it is
/// done (scripts/test writes one). `None` after printing why the test skips.
///
/// # Panics
///
/// When `DATABASE_REPLICA_CTL` is unset and [`services_required`].
///
/// ```
/// if let Some(ctl) = rampart_tests::database_replica_ctl() {
///     assert!(std::path::Path::new(&ctl).exists());
/// }
/// ```
#[track_caller]
pub fn database_replica_ctl() -> Option<String> {
    service_url(
        "DATABASE_REPLICA_CTL",
        "a program that stops and starts the Postgres read replica",
    )
}

/// `RAMPART_S3_URL`: the endpoint (`http://127.0.0.1:PORT`) of the
/// S3-compatible server scripts/test starts (moto, `start_s3` of
/// scripts/lib.sh), or `None` after printing why the test skips. It takes
/// any access key; `PUT /BUCKET` creates a bucket.
///
/// # Panics
///
/// When `RAMPART_S3_URL` is unset and [`services_required`].
///
/// ```
/// let Some(url) = rampart_tests::s3_url() else { return };
/// assert!(url.starts_with("http://"));
/// ```
#[track_caller]
pub fn s3_url() -> Option<String> {
    service_url("RAMPART_S3_URL", "S3-compatible server")
}

/// `url` (`scheme://[user[:password]@]host[:port]/database?...`) with the
/// host and port of `other`: the same user and database on another server,
/// e.g. the replica of the primary `url` names.
///
/// # Panics
///
/// When either URL has no `://`.
///
/// ```
/// let app = "postgres://app:secret@127.0.0.1:5432/orders?sslmode=disable";
/// let replica = "postgres://postgres@127.0.0.1:5440/rampart";
/// assert_eq!(
///     rampart_tests::with_host_of(app, replica),
///     "postgres://app:secret@127.0.0.1:5440/orders?sslmode=disable",
/// );
/// ```
pub fn with_host_of(url: &str, other: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (_, other_rest) = other.split_once("://").expect("a URL with a scheme");
    let authority = |rest: &str| -> (usize, usize) {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let start = rest[..end].rfind('@').map_or(0, |at| at + 1);
        (start, end)
    };
    let (start, end) = authority(rest);
    let (other_start, other_end) = authority(other_rest);
    format!(
        "{scheme}://{}{}{}",
        &rest[..start],
        &other_rest[other_start..other_end],
        &rest[end..]
    )
}

#[track_caller]
fn service_url(variable: &str, service: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if services_required() => panic!(
            "{variable} is not set but {REQUIRE_SERVICES_VAR}=1: {service} must be running \
             (scripts/test starts it)"
        ),
        _ => {
            let caller = std::panic::Location::caller();
            println!(
                "SKIPPED ({caller}): {variable} is not set, so no {service} to test against; \
                 run scripts/test, or set {variable}"
            );
            None
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago. Another
/// process can still take it first: callers that start a server on it retry
/// (as [`Demo::start`] does).
///
/// # Panics
///
/// When the system cannot open a loopback socket at all.
///
/// ```
/// let port = rampart_tests::free_port();
/// std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
/// ```
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a loopback port")
}

/// How long [`Demo::start`] waits for `/health` to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The operator-demo program running as a child process on a free loopback
/// port, with its own temporary `DATA_DIR`. Killed when dropped.
///
/// The integration tests pass the program's path with
/// `env!("CARGO_BIN_EXE_demo-server")` (this package's copy of the demo's
/// `main`, see `src/bin/demo-server.rs`).
///
/// ```no_run
/// use rampart_tests::Demo;
///
/// # async fn example() {
/// // In an integration test of this package: env!("CARGO_BIN_EXE_demo-server").
/// # let bin = "demo-server";
/// let demo = Demo::start(bin, &[]).await;
/// let body = reqwest::get(demo.url("/health")).await.unwrap().text().await.unwrap();
/// assert_eq!(body, r#"{"status":"ok"}"#);
/// # }
/// ```
#[derive(Debug)]
pub struct Demo {
    child: Child,
    addr: SocketAddr,
    scheme: &'static str,
    data_dir: TempDir,
    stderr_path: PathBuf,
}

impl Demo {
    /// Starts the program at `binary` with `env` added to the environment
    /// (`BIND_ADDR` and `DATA_DIR` are set here; `SHUTDOWN_GRACE_SECS`
    /// defaults to 5 and `RUST_LOG` to `info`; `DATABASE_URL` and
    /// `DATABASE_READ_URL` are not inherited) and waits until `GET /health`
    /// answers 200 (with `TLS_CERT` in `env`: until the port accepts
    /// connections). Dropping it stops the program with SIGTERM.
    ///
    /// # Panics
    ///
    /// When the program exits or does not answer within [`START_TIMEOUT`];
    /// the message holds what it wrote to standard error.
    pub async fn start(binary: impl AsRef<Path>, env: &[(&str, &str)]) -> Self {
        let binary = binary.as_ref();
        let mut last_error = String::new();
        // A port picked free can be taken before the program binds it: retry.
        for _ in 0..3 {
            match Self::try_start(binary, env).await {
                Ok(demo) => return demo,
                Err(err) => last_error = err,
            }
        }
        panic!("operator-demo did not start: {last_error}");
    }

    async fn try_start(binary: &Path, env: &[(&str, &str)]) -> Result<Self, String> {
        let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let scheme = if env.iter().any(|(k, _)| *k == "TLS_CERT") {
            "https"
        } else {
            "http"
        };
        let stderr_path = data_dir.path().join("stderr.log");
        let stderr = File::create(&stderr_path).map_err(|e| e.to_string())?;
        let mut command = Command::new(binary);
        command
            // The services of the test run are for the tests: the demo gets
            // its embedded SQLite unless a test hands it a database.
            .env_remove("DATABASE_URL")
            .env_remove("DATABASE_READ_URL")
            .env("RUST_LOG", "info")
            // Dropping the Demo waits for it to exit (see `STOP_TIMEOUT`).
            .env("SHUTDOWN_GRACE_SECS", "5")
            .env("BIND_ADDR", addr.to_string())
            // Seeded ids repeat across tests sharing one Redis: each demo
            // caches under keys of its own unless a test shares them.
            .env(
                "CACHE_PREFIX",
                format!("test:{}:{addr}:", std::process::id()),
            )
            .env("DATA_DIR", data_dir.path().join("data"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut demo = Self {
            child,
            addr,
            scheme,
            data_dir,
            stderr_path,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let client = demo.client();
        loop {
            if let Some(status) = demo.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("exited with {status}; stderr:\n{}", demo.stderr()));
            }
            if demo.answers(&client).await {
                return Ok(demo);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no 200 from /health within {START_TIMEOUT:?}; stderr:\n{}",
                    demo.stderr()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Plain HTTP: `/health` says 200. HTTPS (this client speaks no TLS): the
    /// port accepts connections, which the demo opens only once its
    /// certificate is loaded.
    async fn answers(&self, client: &reqwest::Client) -> bool {
        if self.scheme == "https" {
            return tokio::net::TcpStream::connect(self.addr).await.is_ok();
        }
        match client.get(self.url("/health")).send().await {
            Ok(response) => response.status() == 200,
            Err(_) => false,
        }
    }

    /// A plain-HTTP client for this demo: no proxy from the environment, a
    /// short timeout. (The HTTPS tests speak TLS through tokio-rustls with
    /// their own test root certificate.)
    pub fn client(&self) -> reqwest::Client {
        // reqwest is built with `rustls-no-provider` (operator-demo's
        // provider clients choose theirs): a client needs one installed.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a reqwest client")
    }

    /// The URL of `path` on this demo, e.g. `http://127.0.0.1:41234/health`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Its process id: for reading `/proc/<pid>/status` (memory, threads).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its `DATA_DIR`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    /// What it wrote to standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The file its standard error goes to (inside its temporary folder,
    /// removed when the `Demo` is dropped): for a test that shows the log
    /// when it fails.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Sends SIGTERM, as a container runtime or systemd does to stop it.
    ///
    /// # Errors
    ///
    /// When the signal cannot be sent (the process is gone).
    pub fn terminate(&self) -> io::Result<()> {
        let pid = i32::try_from(self.child.id()).map_err(io::Error::other)?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .map_err(io::Error::from)
    }

    /// Waits up to `timeout` for the process to exit; `None` if it has not.
    ///
    /// # Errors
    ///
    /// When its status cannot be read.
    pub async fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// How long dropping a [`Demo`] waits for the program to exit after SIGTERM
/// before it kills it. A killed process loses what it writes at exit: the
/// line-coverage profile of an instrumented build (`scripts/test`) is one.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Stops the program as a container runtime does: SIGTERM, then SIGKILL if it
/// is still running after [`STOP_TIMEOUT`]. (`Demo::start` gives it a short
/// `SHUTDOWN_GRACE_SECS`, so a request a test left hanging does not hold it.)
impl Drop for Demo {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if self.terminate().is_ok() {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                match self.child.try_wait() {
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    _ => return,
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the program at `binary` with `args` and `env` to completion (it must
/// exit within 30 s) and returns its status and standard error: for tests of
/// start-up failures.
///
/// # Panics
///
/// When it cannot be run or keeps running past 30 s.
///
/// ```no_run
/// // In an integration test of this package: env!("CARGO_BIN_EXE_demo-server").
/// # let bin = "demo-server";
/// let (status, stderr) = rampart_tests::run_to_exit(
///     bin,
///     &["--bind", "nope"],
///     &[],
/// );
/// assert!(!status.success());
/// assert!(stderr.contains("BIND_ADDR"));
/// ```
pub fn run_to_exit(
    binary: impl AsRef<Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = File::create(&stderr_path).expect("a log file");
    let mut child = Command::new(binary.as_ref())
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_READ_URL")
        .env("DATA_DIR", dir.path().join("data"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("the program runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("its status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after 30 s; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )
}

/// A `redis-server` of one test's own on a loopback port, so that the test
/// may stop it and start it again on the same port (the shared Redis of
/// the run must stay up for the others). Killed when dropped.
///
/// ```no_run
/// # async fn example() {
/// let mut redis = rampart_tests::RedisServer::start().await.expect("redis-server installed");
/// let url = redis.url();
/// redis.stop();
/// redis.restart().await;
/// # let _ = url;
/// # }
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on a free port (no persistence) and waits until
    /// it accepts connections. `None` when `redis-server` is not installed.
    ///
    /// # Panics
    ///
    /// When it does not accept connections within [`START_TIMEOUT`].
    pub async fn start() -> Option<Self> {
        let mut server = Self {
            child: None,
            port: free_port(),
        };
        server.spawn().ok()?;
        server.wait_until_up().await;
        Some(server)
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL: every connection drops at once, as when a
    /// host is lost) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    ///
    /// # Panics
    ///
    /// When it cannot be started or does not accept connections within
    /// [`START_TIMEOUT`].
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().expect("redis-server starts again");
        self.wait_until_up().await;
    }

    fn spawn(&mut self) -> io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_until_up(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} does not answer",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
