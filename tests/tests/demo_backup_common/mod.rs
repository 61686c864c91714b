//! What `demo_backup.rs` (SQLite) and `demo_backup_postgres.rs` share: the
//! `operator-demo backup` program run to its end, a store (a folder, or a
//! bucket on the loopback S3 server that scripts/test starts), a client that
//! keeps writing while a backup runs, and the round trip every backend must
//! pass.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    reason = "a module shared by two test binaries, each using part of it"
)]

use std::{
    collections::BTreeSet,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use operator_demo::{backup::Manifest, db::Db};
use serde_json::json;

use crate::demo_api_common::{BIN, client};

/// What `operator-demo backup ...` did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `operator-demo backup ARGS` with `env` (nothing inherited of
/// DATABASE_URL, BACKUP_URL, DATA_DIR) to its end, at most 5 minutes.
pub async fn backup(args: &[&str], env: &[(String, String)]) -> Out {
    let mut all = vec!["backup"];
    all.extend_from_slice(args);
    operator_demo_command(&all, env).await
}

/// Runs `operator-demo ARGS` with `env` (nothing inherited of the
/// database and store variables) to its end, at most 5 minutes.
pub async fn operator_demo_command(args: &[&str], env: &[(String, String)]) -> Out {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_READ_URL")
        .env_remove("BACKUP_URL")
        .env_remove("BACKUP_DATABASE_URL")
        .env_remove("ARCHIVE_URL")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("operator-demo ends within 5 minutes")
        .expect("operator-demo runs");
    let out = Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    println!("{args:?} -> {}\n{}{}", out.code, out.stdout, out.stderr);
    out
}

/// `HH:MM:SS` (UTC) of the second `slot` (Unix seconds) of its day: a
/// daily schedule that falls at `slot`.
pub fn schedule_at(slot: i64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        slot.rem_euclid(86_400) / 3600,
        slot.rem_euclid(3600) / 60,
        slot.rem_euclid(60)
    )
}

/// Where backups go in a test.
pub enum Store {
    /// `file://` a temporary folder.
    Folder(tempfile::TempDir),
    /// A bucket of its own on the loopback S3 server, under a prefix.
    S3 { endpoint: String, bucket: String },
}

impl Store {
    pub fn folder() -> Self {
        Self::Folder(tempfile::tempdir().expect("a temporary folder"))
    }

    /// A new bucket on the S3 server at `endpoint` (moto: `PUT /BUCKET`).
    pub async fn s3(endpoint: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let bucket = format!(
            "backup-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            operator_demo::db::now()
        );
        let response = s3_request(reqwest::Method::PUT, format!("{endpoint}/{bucket}"))
            .send()
            .await
            .expect("the S3 server answers");
        assert!(
            response.status().is_success(),
            "create bucket: {response:?}"
        );
        Self::S3 {
            endpoint: endpoint.to_owned(),
            bucket,
        }
    }

    /// BACKUP_URL and, for S3, the AWS_* variables.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Self::Folder(dir) => vec![(
                "BACKUP_URL".into(),
                format!("file://{}", dir.path().join("backups").display()),
            )],
            Self::S3 { endpoint, bucket } => [
                ("BACKUP_URL", format!("s3://{bucket}/daily/db")),
                ("AWS_ENDPOINT_URL", endpoint.clone()),
                ("AWS_ACCESS_KEY_ID", "test".into()),
                ("AWS_SECRET_ACCESS_KEY", "test".into()),
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_ALLOW_HTTP", "true".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        }
    }

    fn object_url(&self, object: &str) -> String {
        match self {
            Self::Folder(dir) => dir
                .path()
                .join("backups")
                .join(object)
                .display()
                .to_string(),
            Self::S3 { endpoint, bucket } => format!("{endpoint}/{bucket}/daily/db/{object}"),
        }
    }

    pub async fn read(&self, object: &str) -> Vec<u8> {
        match self {
            Self::Folder(_) => std::fs::read(self.object_url(object)).expect(object),
            Self::S3 { .. } => {
                let response = s3_request(reqwest::Method::GET, self.object_url(object))
                    .send()
                    .await
                    .expect(object);
                assert!(response.status().is_success(), "GET {object}: {response:?}");
                response.bytes().await.expect(object).to_vec()
            }
        }
    }

    pub async fn write(&self, object: &str, bytes: Vec<u8>) {
        match self {
            Self::Folder(_) => std::fs::write(self.object_url(object), bytes).expect(object),
            Self::S3 { .. } => {
                let response = s3_request(reqwest::Method::PUT, self.object_url(object))
                    .body(bytes)
                    .send()
                    .await
                    .expect(object);
                assert!(response.status().is_success(), "PUT {object}: {response:?}");
            }
        }
    }

    /// Every object's name (the folder only).
    pub fn objects(&self) -> BTreeSet<String> {
        let Self::Folder(dir) = self else {
            panic!("objects() lists folders only")
        };
        std::fs::read_dir(dir.path().join("backups"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn manifest(&self, name: &str) -> Manifest {
        let bytes = self.read(&format!("{name}.manifest.json")).await;
        serde_json::from_slice(&bytes).expect("a manifest")
    }

    /// Flips one bit in the middle of `object`.
    pub async fn corrupt(&self, object: &str) {
        let mut bytes = self.read(object).await;
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        self.write(object, bytes).await;
    }
}

/// A request to the test S3 server as the access key `test`. moto checks
/// no signature, but answers some anonymous reads 403 (`.json` objects):
/// an Authorization header naming the key is enough.
fn s3_request(method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
    reqwest::Client::new().request(method, url).header(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=00",
    )
}

/// Reads `/metrics` of `demo` until it holds the line `line` (up to 10 s);
/// returns the last text read.
pub async fn wait_for_metric(demo: &rampart_tests::Demo, line: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = demo
            .client()
            .get(demo.url("/metrics"))
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("a body");
        if text.lines().any(|l| l == line) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    text
}

/// Owned `(name, value)` pairs from borrowed ones.
pub fn owned(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A client creating companies one after the other until stopped.
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<usize>,
}

impl Writer {
    /// Starts writing to the demo at `base` (its URL without a path) as
    /// the admin whose access token is `token`.
    pub fn start(base: String, token: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = tokio::spawn({
            let stop = stop.clone();
            async move {
                let client = client();
                let mut written = 0;
                while !stop.load(Ordering::Relaxed) {
                    let response = client
                        .post(format!("{base}/api/v1/companies"))
                        .bearer_auth(&token)
                        .json(&json!({"name": format!("written while backing up {written}")}))
                        .send()
                        .await
                        .expect("the demo answers");
                    assert_eq!(response.status(), 201, "{:?}", response.text().await);
                    written += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                written
            }
        });
        Self { stop, handle }
    }

    /// Stops; how many companies it wrote.
    pub async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.expect("the writer does not panic")
    }
}

/// Every company id (seen by a role that sees every organization).
pub async fn companies(db: &Db) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>("SELECT id FROM companies")
        .fetch_all(db.primary())
        .await
        .expect("companies")
        .into_iter()
        .collect()
}

/// Waits until `db` holds more than `n` companies.
pub async fn wait_for_companies(db: &Db, n: usize) {
    for _ in 0..500 {
        if companies(db).await.len() > n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the writer wrote nothing in 10 s");
}

/// Every table the manifest lists holds exactly its row count in `db`.
pub async fn assert_tables_match(db: &Db, manifest: &Manifest) {
    assert!(manifest.tables.len() >= 8, "{:?}", manifest.tables);
    for table in &manifest.tables {
        let sql = format!("SELECT COUNT(*) FROM {}", table.table);
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(db.primary())
            .await
            .expect("count");
        assert_eq!(rows, table.rows, "table {}", table.table);
    }
}

/// The backup of a database being written to holds every row written
/// before it started, none written after it ended, and a restore brings
/// exactly that back: `before ⊆ restored ⊆ after` for the companies the
/// writer adds, and every table's row count as the manifest recorded.
pub fn assert_snapshot(
    before: &BTreeSet<String>,
    restored: &BTreeSet<String>,
    after: &BTreeSet<String>,
) {
    assert!(
        before.is_subset(restored),
        "rows written before the backup are missing"
    );
    assert!(
        restored.is_subset(after),
        "the restore holds rows never written"
    );
    assert!(
        before.len() < after.len(),
        "the writer wrote during the backup"
    );
}
