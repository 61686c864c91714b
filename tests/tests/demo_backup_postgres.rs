//! `operator-demo backup` on Postgres (row-level security, the app as a
//! role that sees one organization, backups as the owner that sees all):
//! a backup taken while a client writes restores exactly its snapshot, in
//! a folder and through a real S3-compatible server; a corrupted dump is
//! refused; a target with rows is refused without --force; two servers
//! whose daily run falls at the same second store one backup.

mod demo_api_common;
mod demo_backup_common;

use std::time::Duration;

use demo_api_common::{API, Api, BIN, GLOBAL, PROXY, postgres};
use demo_backup_common::{
    Store, Writer, assert_snapshot, assert_tables_match, backup, companies, schedule_at,
    wait_for_companies, wait_for_metric,
};
use operator_demo::{
    backup::BackupName,
    db::{Db, DbConfig},
};
use rampart_tests::{Demo, database_url};

const OFF: (&str, &str) = ("BACKUP_SCHEDULE", "off");

fn owner_env(api: &Api, store: &Store) -> Vec<(String, String)> {
    let pg = api.postgres.as_ref().expect("a Postgres demo");
    let mut env = store.env();
    env.push(("DATABASE_URL".into(), pg.owner_url.clone()));
    env
}

async fn superuser_execute(url: &str, sql: String) {
    let db = Db::connect(&DbConfig::from_url(url)).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(db.primary())
        .await
        .unwrap();
    db.close().await;
}

async fn round_trip(url: &str, tag: &str, store: Store) {
    let mut api = postgres(url, tag, &[OFF], 2, 3).await;
    let env = owner_env(&api, &store);
    let token = api.admin_of(1).await;
    let writer = Writer::start(api.demo.url(""), token);
    wait_for_companies(&api.admin_sql, 2).await;
    let before = companies(&api.admin_sql).await;
    let created = backup(&["create"], &env).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(writer.stop().await > 0);
    let after = companies(&api.admin_sql).await;
    let name = created.stdout.trim().to_owned();
    assert!(name.starts_with("operator-demo-postgres-"), "{name}");
    let manifest = store.manifest(&name).await;
    let objects: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        objects,
        [format!("{name}.pgdump"), format!("{name}.globals.sql")]
    );
    let globals = String::from_utf8(store.read(&format!("{name}.globals.sql")).await).unwrap();
    let pg = api.postgres.take().unwrap();
    assert!(
        globals.contains(&format!("CREATE ROLE {}_app", pg.name)),
        "{globals}"
    );

    // Stop the demo, wipe the database: dropped and created empty.
    api.admin_sql.close().await;
    if let Some(app) = api.app_sql.take() {
        app.close().await;
    }
    api.demo.terminate().unwrap();
    api.demo
        .wait_timeout(Duration::from_secs(30))
        .await
        .unwrap();
    superuser_execute(url, format!("DROP DATABASE {} WITH (FORCE)", pg.name)).await;
    superuser_execute(url, format!("CREATE DATABASE {}", pg.name)).await;

    let restored = backup(&["restore"], &env).await;
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    let db = Db::connect(&DbConfig::from_url(&pg.owner_url))
        .await
        .unwrap();
    assert_tables_match(&db, &manifest).await;
    assert_snapshot(&before, &companies(&db).await, &after);
    db.close().await;

    // The app's role gets its grants back and row-level security holds:
    // a client of organization 1 logs in and sees its companies only.
    let demo = Demo::start(
        BIN,
        &[GLOBAL, API, PROXY, OFF, ("DATABASE_URL", &pg.app_url)],
    )
    .await;
    let client = demo_api_common::client();
    let login: serde_json::Value = client
        .post(demo.url("/auth/login"))
        .json(&serde_json::json!({"email": "user1@example.com", "password": "test123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().expect("user1 logs in");
    let listed = client
        .get(demo.url("/api/v1/companies"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    drop(demo);
    pg.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writing_restores_its_snapshot() {
    let Some(url) = database_url() else { return };
    round_trip(&url, "bk_folder", Store::folder()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_through_a_real_s3_server() {
    let Some(url) = database_url() else { return };
    let Some(endpoint) = rampart_tests::s3_url() else {
        return;
    };
    round_trip(&url, "bk_s3", Store::s3(&endpoint).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_dump_is_refused_and_a_full_target_needs_force() {
    let Some(url) = database_url() else { return };
    let Some(endpoint) = rampart_tests::s3_url() else {
        return;
    };
    let api = postgres(&url, "bk_corrupt", &[OFF], 1, 2).await;
    let store = Store::s3(&endpoint).await;
    let env = owner_env(&api, &store);
    let created = backup(&["create"], &env).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let name = created.stdout.trim().to_owned();
    let verified = backup(&["verify"], &env).await;
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert!(
        verified.stderr.contains("row counts and checksums match"),
        "{}",
        verified.stderr
    );

    // The target has rows: refused without --force, changed by nothing.
    api.admin_execute("UPDATE users SET full_name = 'after the backup'", &[])
        .await;
    let refused = backup(&["restore"], &env).await;
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is not empty"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains(":@"), "no empty password shown");
    assert_eq!(renamed(&api).await, 2);
    // With --force it is replaced by the backup's rows.
    let forced = backup(&["restore", "--force"], &env).await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(renamed(&api).await, 0);

    api.admin_execute("UPDATE users SET full_name = 'after the backup'", &[])
        .await;
    store.corrupt(&format!("{name}.pgdump")).await;
    for args in [&["verify"][..], &["restore", "--force"][..]] {
        let out = backup(args, &env).await;
        assert_eq!(out.code, 4, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("checksum mismatch for {name}.pgdump")),
            "{}",
            out.stderr
        );
    }
    assert_eq!(renamed(&api).await, 2, "a refused restore changes nothing");
    // No scratch database left behind by verify.
    let scratch: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_database WHERE datname LIKE 'operator_demo_verify_%'",
    )
    .fetch_one(api.admin_sql.primary())
    .await
    .unwrap();
    assert_eq!(scratch, 0);
    api.stop().await;
}

async fn renamed(api: &Api) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE full_name = 'after the backup'")
        .fetch_one(api.admin_sql.primary())
        .await
        .unwrap()
}

/// Two replicas whose daily run falls at the same second: the advisory
/// lock lets one back up; the other skips, and both export its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_at_the_same_slot_store_one_backup() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "bk_sched", &[OFF], 1, 2).await;
    let pg = api.postgres.as_ref().unwrap();
    let store = Store::folder();
    // Far enough ahead that both have started on a loaded machine.
    let slot = operator_demo::db::now() + 25;
    let schedule = schedule_at(slot);
    let backup_url = store.env()[0].1.clone();
    let env = [
        GLOBAL,
        API,
        PROXY,
        ("DATABASE_URL", pg.app_url.as_str()),
        ("BACKUP_DATABASE_URL", pg.owner_url.as_str()),
        ("BACKUP_URL", backup_url.as_str()),
        ("BACKUP_SCHEDULE", schedule.as_str()),
    ];
    let first = Demo::start(BIN, &env).await;
    let second = Demo::start(BIN, &env).await;
    assert!(
        operator_demo::db::now() < slot,
        "both servers started before the slot"
    );
    let ran = |demo: &Demo| {
        let log = demo.stderr();
        (
            log.contains("scheduled backup stored"),
            log.contains("scheduled backup skipped"),
        )
    };
    for _ in 0..1200 {
        let (a, b) = (ran(&first), ran(&second));
        if (a.0 || a.1) && (b.0 || b.1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcomes = [ran(&first), ran(&second)];
    assert_eq!(
        outcomes.iter().filter(|o| o.0).count(),
        1,
        "{outcomes:?}\n{}\n{}",
        first.stderr(),
        second.stderr()
    );
    assert_eq!(outcomes.iter().filter(|o| o.1).count(), 1, "{outcomes:?}");
    let manifests: Vec<String> = store
        .objects()
        .into_iter()
        .filter(|o| o.ends_with(".manifest.json"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    let name = BackupName::of_object(&manifests[0]).unwrap();
    assert!(name.time >= slot, "taken at the slot");
    // Both replicas read the store after their run and export its time.
    let line = format!("backup_last_success_timestamp_seconds {}", name.time);
    for demo in [&first, &second] {
        let text = wait_for_metric(demo, &line).await;
        assert!(text.lines().any(|l| l == line), "{text}");
    }
    drop((first, second));
    api.stop().await;
}
