//! `operator-demo backup` on the embedded SQLite, run as a program against
//! a running, seeded demo: a backup taken while a client writes restores
//! exactly its snapshot (through a folder and through a real S3-compatible
//! server), a corrupted backup is refused, a target with rows is refused
//! without --force, prune keeps what the rule says, and /metrics shows the
//! newest backup.

mod demo_api_common;
mod demo_backup_common;

use std::time::Duration;

use demo_api_common::{API, BIN, GLOBAL, PROXY, sqlite};
use demo_backup_common::{
    Store, Writer, assert_snapshot, assert_tables_match, backup, companies, owned,
    wait_for_companies, wait_for_metric,
};
use operator_demo::{
    backup::BackupName,
    db::{Backend, Db, DbConfig},
};
use rampart_tests::Demo;

const OFF: (&str, &str) = ("BACKUP_SCHEDULE", "off");

fn data_env(demo: &Demo, store: &Store) -> Vec<(String, String)> {
    let mut env = store.env();
    env.push(("DATA_DIR".into(), demo.data_dir().display().to_string()));
    env
}

/// Seed, back up while a client writes, stop, wipe, restore, compare every
/// table; then the restored demo serves the same data.
async fn round_trip(store: Store) {
    let mut api = sqlite(&[OFF], 2, 3).await;
    let env = data_env(&api.demo, &store);
    let token = api.admin_of(1).await;
    let writer = Writer::start(api.demo.url(""), token);
    wait_for_companies(&api.admin_sql, 2).await;
    let before = companies(&api.admin_sql).await;
    let created = backup(&["create"], &env).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(writer.stop().await > 0);
    let after = companies(&api.admin_sql).await;
    let name = created.stdout.trim().to_owned();
    assert!(name.starts_with("operator-demo-sqlite-"), "{name}");
    let manifest = store.manifest(&name).await;
    assert_eq!(manifest.migration_version, latest_migration());

    // Stop the demo, wipe its database.
    api.admin_sql.close().await;
    api.demo.terminate().unwrap();
    api.demo
        .wait_timeout(Duration::from_secs(30))
        .await
        .unwrap();
    let file = api.demo.data_dir().join("operator-demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }

    let restored = backup(&["restore"], &env).await;
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert_eq!(restored.stdout.trim(), name);
    let db = Db::connect(&DbConfig::embedded(api.demo.data_dir()))
        .await
        .unwrap();
    assert_tables_match(&db, &manifest).await;
    assert_snapshot(&before, &companies(&db).await, &after);
    db.close().await;

    // A client sees the restored data: user1 logs in, companies list.
    let data_dir = api.demo.data_dir().display().to_string();
    let demo = Demo::start(BIN, &[GLOBAL, API, PROXY, OFF, ("DATA_DIR", &data_dir)]).await;
    let client = demo_api_common::client();
    let login = client
        .post(demo.url("/auth/login"))
        .json(&serde_json::json!({"email": "user1@example.com", "password": "test123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writing_restores_its_snapshot() {
    round_trip(Store::folder()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_through_a_real_s3_server() {
    let Some(endpoint) = rampart_tests::s3_url() else {
        return;
    };
    round_trip(Store::s3(&endpoint).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_backup_is_refused_by_verify_and_restore() {
    let api = sqlite(&[OFF], 1, 2).await;
    let store = Store::folder();
    let env = data_env(&api.demo, &store);
    let created = backup(&["create"], &env).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let name = created.stdout.trim().to_owned();
    assert_eq!(backup(&["verify"], &env).await.code, 0);

    store.corrupt(&format!("{name}.sqlite3")).await;
    let verify = backup(&["verify"], &env).await;
    assert_eq!(verify.code, 4, "{}", verify.stderr);
    assert!(
        verify
            .stderr
            .contains(&format!("checksum mismatch for {name}.sqlite3")),
        "{}",
        verify.stderr
    );
    let users_before = count_users(&api.admin_sql).await;
    let restore = backup(&["restore", "--force"], &env).await;
    assert_eq!(restore.code, 4, "{}", restore.stderr);
    assert!(
        restore.stderr.contains("checksum mismatch"),
        "{}",
        restore.stderr
    );
    assert_eq!(
        count_users(&api.admin_sql).await,
        users_before,
        "target untouched"
    );

    // A manifest changed by hand is refused too.
    let manifest = format!("{name}.manifest.json");
    let mut bytes = store.read(&manifest).await;
    bytes.push(b' ');
    store.write(&manifest, bytes).await;
    let verify = backup(&["verify", &name], &env).await;
    assert_eq!(verify.code, 4, "{}", verify.stderr);
    api.stop().await;
}

/// A manifest that says other than what the backup restores (its own
/// checksum right) fails verify with 6, naming the table; and `list`
/// shows the backup with its time and migration version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_compares_every_table_with_the_manifest() {
    let api = sqlite(&[OFF], 1, 2).await;
    let store = Store::folder();
    let env = data_env(&api.demo, &store);
    let created = backup(&["create"], &env).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let name = created.stdout.trim().to_owned();
    let listed = backup(&["list"], &env).await;
    assert_eq!(listed.code, 0);
    let parsed = BackupName::of_object(&name).unwrap();
    assert!(
        listed.stdout.contains(&format!(
            "{name}  {}  v{}",
            operator_demo::backup::human_time(parsed.time),
            latest_migration()
        )),
        "{}",
        listed.stdout
    );
    assert!(listed.stdout.contains("complete"), "{}", listed.stdout);

    let mut manifest = store.manifest(&name).await;
    let users = manifest
        .tables
        .iter_mut()
        .find(|t| t.table == "users")
        .unwrap();
    users.rows += 1;
    let Store::Folder(dir) = &store else {
        unreachable!()
    };
    let storage = operator_demo::storage::Storage::from_url(&format!(
        "file://{}",
        dir.path().join("backups").display()
    ))
    .unwrap();
    storage
        .put(
            &format!("{name}.manifest.json"),
            serde_json::to_vec(&manifest).unwrap().into(),
        )
        .await
        .unwrap();
    let verify = backup(&["verify"], &env).await;
    assert_eq!(verify.code, 6, "{}", verify.stderr);
    assert!(
        verify
            .stderr
            .contains("users: 3 rows in the manifest, 2 after restore"),
        "{}",
        verify.stderr
    );
    api.stop().await;
}

async fn count_users(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.primary())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_target_with_rows_unless_forced() {
    let api = sqlite(&[OFF], 1, 2).await;
    let store = Store::folder();
    let env = data_env(&api.demo, &store);
    assert_eq!(backup(&["create"], &env).await.code, 0);
    api.admin_execute(
        "UPDATE users SET full_name = 'changed after the backup'",
        &[],
    )
    .await;
    let refused = backup(&["restore"], &env).await;
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is not empty"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    let changed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE full_name = 'changed after the backup'",
    )
    .fetch_one(api.admin_sql.primary())
    .await
    .unwrap();
    assert_eq!(changed, 2, "a refused restore changes nothing");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_what_the_rule_says() {
    let api = sqlite(&[OFF], 1, 1).await;
    let store = Store::folder();
    let env = data_env(&api.demo, &store);
    let created = backup(&["create"], &env).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let name = BackupName::of_object(created.stdout.trim()).unwrap();
    // Copies of it, back-dated by 40, 31 and 29 days, and an incomplete
    // one (no manifest, a failed run) 35 days old.
    let day = 86_400;
    let objects = store.objects();
    let back_date = |days: i64, with_manifest: bool| {
        let old = BackupName::new(Backend::Sqlite, name.time - days * day, name.version);
        for object in &objects {
            if !with_manifest && object.contains(".manifest.json") {
                continue;
            }
            let copy = object.replace(&name.to_string(), &old.to_string());
            let Store::Folder(dir) = &store else {
                unreachable!()
            };
            let folder = dir.path().join("backups");
            std::fs::copy(folder.join(object), folder.join(copy)).unwrap();
        }
        old
    };
    let d40 = back_date(40, true);
    let d31 = back_date(31, true);
    let d29 = back_date(29, true);
    let d35 = back_date(35, false);

    let dry = backup(&["prune", "--dry-run"], &env).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        store.objects(),
        objects_of(&store, &[&name, &d40, &d31, &d29, &d35])
    );

    let pruned = backup(&["prune"], &env).await;
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    for gone in [&d40, &d31, &d35] {
        assert!(
            pruned.stdout.contains(&format!("deleted {gone}")),
            "{}",
            pruned.stdout
        );
    }
    let kept = store.objects();
    assert!(
        kept.iter()
            .all(|o| o.starts_with(&d29.to_string()) || o.starts_with(&name.to_string())),
        "{kept:?}"
    );
    assert_eq!(kept.len(), 8, "two backups of four objects each: {kept:?}");

    // With 1 day, only the newest (today's) stays; the rule never deletes
    // the newest complete backup, however old.
    let mut one_day = env.clone();
    one_day.push(("BACKUP_RETENTION_DAYS".into(), "1".into()));
    assert_eq!(backup(&["prune"], &one_day).await.code, 0);
    assert!(
        store
            .objects()
            .iter()
            .all(|o| o.starts_with(&name.to_string()))
    );
    let Store::Folder(dir) = &store else {
        unreachable!()
    };
    let folder = dir.path().join("backups");
    for object in store.objects() {
        let old = object.replace(&name.to_string(), &d40.to_string());
        std::fs::rename(folder.join(&object), folder.join(old)).unwrap();
    }
    assert_eq!(backup(&["prune"], &one_day).await.code, 0);
    assert_eq!(store.objects().len(), 4, "the newest backup is kept");

    for bad in ["0", "-1", "x"] {
        let mut env = env.clone();
        env.push(("BACKUP_RETENTION_DAYS".into(), bad.into()));
        let out = backup(&["prune"], &env).await;
        assert_eq!(out.code, 2, "{bad}");
        assert!(
            out.stderr.contains("BACKUP_RETENTION_DAYS"),
            "{}",
            out.stderr
        );
    }
    api.stop().await;
}

fn objects_of(store: &Store, names: &[&BackupName]) -> std::collections::BTreeSet<String> {
    store
        .objects()
        .into_iter()
        .filter(|o| names.iter().any(|n| o.starts_with(&n.to_string())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_newest_backup_and_zero_before() {
    let store = Store::folder();
    let store_env = store.env();
    let url = store_env[0].1.as_str();
    let fresh = Demo::start(BIN, &[OFF, ("BACKUP_URL", url)]).await;
    let text = wait_for_metric(&fresh, "backup_last_success_timestamp_seconds 0").await;
    assert!(
        text.lines()
            .any(|l| l == "backup_last_success_timestamp_seconds 0"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "backup_size_bytes 0"), "{text}");

    let created = backup(&["create"], &data_env(&fresh, &store)).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let name = BackupName::of_object(created.stdout.trim()).unwrap();
    // Read at start-up (and every 5 minutes): a new replica shows it at once.
    drop(fresh);
    let demo = Demo::start(BIN, &[OFF, ("BACKUP_URL", url)]).await;
    let line = format!("backup_last_success_timestamp_seconds {}", name.time);
    let text = wait_for_metric(&demo, &line).await;
    assert!(text.lines().any(|l| l == line), "{text}");
    assert!(!text.lines().any(|l| l == "backup_size_bytes 0"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_and_an_empty_store_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let env = owned(&[("DATA_DIR", &data_dir), ("BACKUP_URL", "ftp://nowhere/x")]);
    let out = backup(&["list"], &env).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("BACKUP_URL"), "{}", out.stderr);

    let (status, stderr) =
        rampart_tests::run_to_exit(BIN, &[], &[("BACKUP_URL", "ftp://nowhere/x")]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("BACKUP_URL"), "{stderr}");
    let (status, stderr) = rampart_tests::run_to_exit(BIN, &[], &[("BACKUP_SCHEDULE", "25:00")]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("BACKUP_SCHEDULE"), "{stderr}");

    let store = Store::folder();
    let mut env = store.env();
    env.push(("DATA_DIR".into(), data_dir.clone()));
    for action in ["verify", "restore"] {
        let out = backup(&[action], &env).await;
        assert_eq!(out.code, 8, "{action}: {}", out.stderr);
        assert!(out.stderr.contains("no backup"), "{}", out.stderr);
    }
    let out = backup(
        &["restore", "operator-demo-sqlite-20200101T000000Z-v3"],
        &env,
    )
    .await;
    assert_eq!(out.code, 8, "{}", out.stderr);
    let out = backup(&["restore", "../etc/passwd"], &env).await;
    assert_eq!(out.code, 8, "{}", out.stderr);
}

/// The newest migration's version: what a backup of a migrated database records.
fn latest_migration() -> i64 {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/operator-demo/migrations/sqlite"
    );
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.split('_').next().and_then(|n| n.parse().ok())
        })
        .max()
        .unwrap()
}
