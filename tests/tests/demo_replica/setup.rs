//! What every test of the binary starts from: a database of its own on the
//! primary, replayed on the replica, seeded, and the demo reading from the
//! replica; replay paused and resumed, the replica stopped and started.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use operator_demo::db::{Db, DbConfig, Freshness, seed::org_id};
use rampart_tests::{Demo, database_replica_url, database_url, run_to_exit, with_host_of};
use reqwest::{Method, header::HeaderMap};
use serde_json::Value;
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::sync::{Mutex, MutexGuard};

use crate::demo_api_common::{API, Api, BIN, CHEAP_TEST123, GLOBAL, PROXY, PgDatabase, Reply};

/// Held by each test for its whole run.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// How long replication may take to show a write on the replica: loopback
/// streaming takes milliseconds, a loaded CI machine more.
pub(crate) const REPLAY_TIMEOUT: Duration = Duration::from_secs(60);

/// A seeded demo reading from the replica, and superuser SQL on both sides.
pub(crate) struct Replicated {
    /// Before `api`: dropped (and the log printed) while the demo's folder
    /// still exists.
    _log: LogOnPanic,
    pub(crate) api: Api,
    /// Superuser on the primary, in the test's database.
    pub(crate) primary: PgPool,
    /// Superuser on the replica, in the test's database.
    pub(crate) replica: PgPool,
    /// The app role on the replica, in the test's database.
    pub(crate) replica_app_url: String,
    _serial: MutexGuard<'static, ()>,
}

/// The primary's and the replica's superuser URLs, or `None` (skip).
#[track_caller]
pub(crate) fn services() -> Option<(String, String)> {
    let primary = database_url()?;
    let replica = database_replica_url()?;
    Some((primary, replica))
}

pub(crate) async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {url}: {err}"))
}

/// A database of its own on the primary, replayed on the replica, seeded
/// with `orgs` organizations of `users_per_org` users, and the demo on it.
pub(crate) async fn setup(
    primary_url: &str,
    replica_url: &str,
    tag: &str,
    orgs: u32,
    users_per_org: u32,
) -> Replicated {
    setup_with(primary_url, replica_url, tag, orgs, users_per_org, &[]).await
}

/// [`setup`], with `env` added to the demo's environment.
pub(crate) async fn setup_with(
    primary_url: &str,
    replica_url: &str,
    tag: &str,
    orgs: u32,
    users_per_org: u32,
    env: &[(&str, &str)],
) -> Replicated {
    let serial = SERIAL.lock().await;
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let replica_cluster = pool(replica_url).await;
    // A test that failed half-way may have left replay paused.
    resume(&replica_cluster).await;
    assert!(
        sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
            .fetch_one(&replica_cluster)
            .await
            .unwrap(),
        "DATABASE_REPLICA_URL must name a standby in recovery"
    );

    let pg = PgDatabase::create(primary_url, tag).await;
    let (status, stderr) = run_to_exit(
        BIN,
        &[
            "seed",
            "--orgs",
            &orgs.to_string(),
            "--users-per-org",
            &users_per_org.to_string(),
        ],
        &[
            ("DATABASE_URL", &pg.app_url),
            ("SEED_PASSWORD_HASH", CHEAP_TEST123),
        ],
    );
    assert!(status.success(), "seed failed: {stderr}");
    let primary = pool(&pg.owner_url).await;
    // The database, its role, tables, grants and rows are on the replica
    // once it has replayed the primary's WAL up to now.
    caught_up(&primary, &replica_cluster).await;
    replica_cluster.close().await;
    let replica = pool(&with_host_of(&pg.owner_url, replica_url)).await;
    let replica_app_url = with_host_of(&pg.app_url, replica_url);

    let mut demo_env = vec![
        GLOBAL,
        API,
        PROXY,
        ("DATABASE_URL", pg.app_url.as_str()),
        ("DATABASE_READ_URL", replica_app_url.as_str()),
        // These tests watch which database answers a read; cached
        // answers would hide it (the cache with a replica: main.rs).
        ("CACHE_ENABLED", "false"),
    ];
    demo_env.extend_from_slice(env);
    let demo = Demo::start(BIN, &demo_env).await;
    let admin_sql = Db::connect(&DbConfig::from_url(&pg.owner_url))
        .await
        .expect("the owner");
    let mut app = DbConfig::from_url(&pg.app_url);
    app.read_url = Some(replica_app_url.clone());
    let app_sql = Db::connect(&app).await.expect("the app role");
    Replicated {
        _log: LogOnPanic(demo.stderr_path().to_owned()),
        api: Api {
            demo,
            client: client(),
            admin_sql,
            app_sql: Some(app_sql),
            users_per_org,
            postgres: Some(pg),
        },
        primary,
        replica,
        replica_app_url,
        _serial: serial,
    }
}

impl Replicated {
    pub(crate) async fn pause(&self) {
        pause(&self.replica).await;
    }

    pub(crate) async fn resume(&self) {
        resume(&self.replica).await;
    }

    /// Waits until the replica has replayed every write made so far.
    pub(crate) async fn caught_up(&self) {
        caught_up(&self.primary, &self.replica).await;
    }

    /// Resumes replay, stops the demo, drops the database.
    pub(crate) async fn stop(self) {
        self.resume().await;
        self.primary.close().await;
        self.replica.close().await;
        self.api.stop().await;
    }
}

/// Waits until the replica has replayed everything the primary wrote so far.
/// Up to the primary's WAL *insert* position: under scripts/test it runs with
/// `synchronous_commit=off`, so a commit can be in the WAL buffers, not yet
/// written (past `pg_current_wal_lsn()`) nor sent, until the WAL writer
/// flushes it a few hundred milliseconds later.
async fn caught_up(primary: &PgPool, replica: &PgPool) {
    let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
        .fetch_one(primary)
        .await
        .unwrap();
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    loop {
        let replayed: bool =
            sqlx::query_scalar("SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)")
                .bind(&lsn)
                .fetch_one(replica)
                .await
                .unwrap();
        if replayed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not replay up to {lsn} within {REPLAY_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pauses replay on the replica and waits until it has stopped applying WAL:
/// from then on the replica shows the past.
async fn pause(replica: &PgPool) {
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(replica)
        .await
        .unwrap();
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    loop {
        let state: String = sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
            .fetch_one(replica)
            .await
            .unwrap();
        if state == "paused" {
            return;
        }
        assert!(Instant::now() < deadline, "replay still {state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn resume(replica: &PgPool) {
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(replica)
        .await
        .unwrap();
}

/// A client whose requests come, through the trusted proxy, from a `/64`
/// of their own (the login limits count per `/64`, in a shared Redis when
/// `REDIS_URL` is set, so each test starts with a fresh budget).
pub(crate) fn client() -> reqwest::Client {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let address = format!(
        "2001:db8:{:x}:{:x}::1",
        std::process::id() & 0xffff,
        nanos & 0xffff
    );
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().expect("an address"));
    reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

pub(crate) async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

pub(crate) fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn id(reply: &Reply, status: u16) -> String {
    reply.ok(status)["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id: {}", reply.text))
        .to_owned()
}

/// Polls `GET path` until its list holds `id` (or, with `present` false, no
/// longer holds it).
pub(crate) async fn eventually_listed(api: &Api, token: &str, path: &str, id: &str, present: bool) {
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    loop {
        let list = api.get(path, token).await;
        if ids(list.ok(200)).iter().any(|i| i == id) == present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {id} still {} after {REPLAY_TIMEOUT:?}",
            if present { "missing" } else { "listed" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Prints the demo's log when the test fails: a 500 says no more than
/// "an unexpected error occurred" to its client.
struct LogOnPanic(PathBuf);

impl Drop for LogOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            println!("--- the demo's standard error:\n{log}");
        }
    }
}

/// Whether a `Db::read` that may lag was served by the standby.
pub(crate) async fn in_recovery(db: &Db) -> Result<bool, sqlx::Error> {
    db.read(&org_id(1), Freshness::MayLag, |tx| {
        Box::pin(async move {
            sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(&mut **tx)
                .await
        })
    })
    .await
}

/// `/ready` while the replica is down: `200`, `degraded`, the primary
/// `ok` and the replica's check failing.
pub(crate) async fn assert_degraded(api: &Api) {
    let ready = api.send(Method::GET, "/ready", None, None).await;
    let body = ready.ok(200);
    assert_eq!(body["status"], "degraded", "{}", ready.text);
    assert_eq!(body["checks"]["database"], "ok", "{}", ready.text);
    assert!(
        body["checks"]["database_replica"]
            .as_str()
            .is_some_and(|check| check != "ok"),
        "{}",
        ready.text
    );
}

/// Stops the replica through `DATABASE_REPLICA_CTL`, and starts it again
/// when ended or dropped (a failed assertion must not leave it down for the
/// next test).
pub(crate) struct ReplicaOutage {
    ctl: String,
    ended: bool,
}

impl ReplicaOutage {
    pub(crate) fn begin(ctl: &str) -> Self {
        run_ctl(ctl, "stop");
        Self {
            ctl: ctl.to_owned(),
            ended: false,
        }
    }

    pub(crate) fn end(mut self) {
        self.ended = true;
        run_ctl(&self.ctl, "start");
    }
}

impl Drop for ReplicaOutage {
    fn drop(&mut self) {
        if !self.ended {
            run_ctl(&self.ctl, "start");
        }
    }
}

fn run_ctl(ctl: &str, action: &str) {
    let output = Command::new(ctl)
        .arg(action)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {ctl}: {err}"));
    assert!(
        output.status.success(),
        "{ctl} {action}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
