//! What `demo_retention.rs` (SQLite) and `demo_retention_postgres.rs`
//! share: back-dated rows in every organization, `operator-demo retention
//! run` to its end, and the checks every backend must pass.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    reason = "a module shared by two test binaries, each using part of it"
)]

use std::{collections::BTreeMap, time::Duration};

use operator_demo::{
    db::{Db, seed::org_id},
    retention::{ArchiveLine, read_archive},
};
use sqlx::Row;

use crate::demo_backup_common::{Out, Store, operator_demo_command};

pub const DAY: i64 = 86_400;
/// The run's clock (`--now`): a fixed time, so the cut-offs are exact.
pub const NOW: i64 = 1_796_432_400;

/// Runs `operator-demo retention ARGS --now NOW` with `env` (nothing
/// inherited of DATABASE_URL, ARCHIVE_URL) to its end.
pub async fn retention(args: &[&str], env: &[(String, String)]) -> Out {
    let now = NOW.to_string();
    let mut all = vec!["retention"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--now", &now]);
    operator_demo_command(&all, env).await
}

/// The rows one organization gets (ids prefixed by the organization's
/// number), relative to [`NOW`]:
///
/// - s1 ended 100 days ago, no calls: deleted
/// - s2 ended 100 days ago, call c_young (100 days): held, both kept
/// - s3 ended 10 days ago, calls c_anon (300 days, disposition changed 731
///   days ago: anonymized) and c_edge (364 days): kept
/// - s4 ended 400 days ago, calls c_old1 (400 days) and c_old2 (800 days,
///   disposition 800 days: anonymized in the archive): archived, deleted,
///   then s4 deleted
/// - s5 still active (started 1000 days ago): kept
pub async fn seed_rows(db: &Db, org: u32) {
    seed_rows_at(db, org, NOW).await;
}

/// [`seed_rows`] relative to `now`.
pub async fn seed_rows_at(db: &Db, org: u32, now: i64) {
    let org_id = org_id(org);
    let mut tx = db.write_tx(&org_id).await.unwrap();
    let user: String =
        sqlx::query_scalar("SELECT id FROM users WHERE organization_id = $1 LIMIT 1")
            .bind(&org_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    let sessions: [(&str, i64, Option<i64>, &str); 5] = [
        ("s1", 110, Some(100), "ended"),
        ("s2", 110, Some(100), "ended"),
        ("s3", 400, Some(10), "ended"),
        ("s4", 900, Some(400), "failed"),
        ("s5", 1000, None, "active"),
    ];
    for (id, started, ended, status) in sessions {
        sqlx::query(
            "INSERT INTO call_sessions (id, organization_id, user_id, campaign_id, provider_type, \
             telephony_provider, status, started_at, ended_at) \
             VALUES ($1, $2, $3, NULL, 'voice', 'simulated', $4, $5, $6)",
        )
        .bind(format!("{org}-{id}"))
        .bind(&org_id)
        .bind(&user)
        .bind(status)
        .bind(now - started * DAY)
        .bind(ended.map(|e| now - e * DAY))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let calls: [(&str, &str, i64, Option<i64>); 5] = [
        ("c_young", "s2", 100, Some(100)),
        ("c_anon", "s3", 300, Some(731)),
        ("c_edge", "s3", 364, None),
        ("c_old1", "s4", 400, Some(400)),
        ("c_old2", "s4", 800, Some(800)),
    ];
    for (id, session, started, disposition) in calls {
        let id = format!("{org}-{id}");
        sqlx::query(
            "INSERT INTO calls (id, organization_id, session_id, provider, provider_call_id, \
             from_number, to_number, started_at, ended_at, duration_seconds) \
             VALUES ($1, $2, $3, 'simulated', $4, '+15550000001', $5, $6, $7, 42)",
        )
        .bind(&id)
        .bind(&org_id)
        .bind(format!("{org}-{session}"))
        .bind(format!("pc-{id}"))
        .bind(format!("+1555{org:07}"))
        .bind(now - started * DAY)
        .bind(now - started * DAY + 42)
        .execute(&mut *tx)
        .await
        .unwrap();
        if let Some(updated) = disposition {
            sqlx::query(
                "INSERT INTO call_dispositions (call_id, organization_id, disposition, notes, \
                 custom_fields, updated_by, updated_at) VALUES ($1, $2, 'interested', $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(&org_id)
            .bind(format!("notes of {id}"))
            .bind(format!(r#"{{"ref":"{id}"}}"#))
            .bind(&user)
            .bind(now - updated * DAY)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// Every retention-relevant row of `org`: ids of sessions and calls, and
/// each disposition's (notes, custom_fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    pub sessions: Vec<String>,
    pub calls: Vec<String>,
    pub dispositions: BTreeMap<String, (String, String)>,
}

pub async fn rows(db: &Db, org: u32) -> Rows {
    let org_id = org_id(org);
    let mut tx = db.write_tx(&org_id).await.unwrap();
    let ids = |sql: &'static str| sqlx::query_scalar::<_, String>(sql).bind(org_id.clone());
    let sessions = ids("SELECT id FROM call_sessions WHERE organization_id = $1 ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let calls = ids("SELECT id FROM calls WHERE organization_id = $1 ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let dispositions = sqlx::query(
        "SELECT call_id, notes, custom_fields FROM call_dispositions WHERE organization_id = $1",
    )
    .bind(&org_id)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2))))
    .collect();
    tx.rollback().await.unwrap();
    Rows {
        sessions,
        calls,
        dispositions,
    }
}

fn ids(org: u32, names: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = names.iter().map(|n| format!("{org}-{n}")).collect();
    ids.sort();
    ids
}

/// The seeded rows of `org`, before any run.
pub fn seeded(org: u32) -> Rows {
    let disposition = |n: &str| {
        let id = format!("{org}-{n}");
        (
            id.clone(),
            (format!("notes of {id}"), format!(r#"{{"ref":"{id}"}}"#)),
        )
    };
    Rows {
        sessions: ids(org, &["s1", "s2", "s3", "s4", "s5"]),
        calls: ids(org, &["c_young", "c_anon", "c_edge", "c_old1", "c_old2"]),
        dispositions: ["c_young", "c_anon", "c_old1", "c_old2"]
            .into_iter()
            .map(disposition)
            .collect(),
    }
}

/// What must be left of `org` after a run.
pub fn after_run(org: u32) -> Rows {
    let mut rows = seeded(org);
    rows.sessions = ids(org, &["s2", "s3", "s5"]);
    rows.calls = ids(org, &["c_young", "c_anon", "c_edge"]);
    rows.dispositions.remove(&format!("{org}-c_old1"));
    rows.dispositions.remove(&format!("{org}-c_old2"));
    rows.dispositions.insert(
        format!("{org}-c_anon"),
        ("[ANONYMIZED]".into(), "{}".into()),
    );
    rows
}

/// The per-organization line of the summary table: sessions, held,
/// archived, deleted, anonymized.
pub fn summary(stdout: &str, org: u32) -> [u64; 5] {
    let org_id = org_id(org);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&org_id))
        .unwrap_or_else(|| panic!("no line for {org_id} in\n{stdout}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(5)
        .map(|n| n.parse().expect("a count"))
        .collect();
    numbers.try_into().unwrap()
}

/// The archive object of `org` in `stdout`'s table.
pub fn archive_name(stdout: &str, org: u32) -> String {
    let org_id = org_id(org);
    let line = stdout.lines().find(|l| l.starts_with(&org_id)).unwrap();
    line.split_whitespace()
        .nth(6)
        .expect("an archive name")
        .to_owned()
}

/// The archive's lines are the two old calls of `org`, as seeded, the
/// 800-day-old disposition anonymized.
pub fn check_archive(gzip: &[u8], org: u32) {
    let (lines, _) = read_archive(gzip).expect("a readable archive");
    let mut lines: Vec<ArchiveLine> = lines;
    lines.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(lines.len(), 2);
    let (old1, old2) = (&lines[0], &lines[1]);
    assert_eq!(old1.id, format!("{org}-c_old1"));
    assert_eq!(old2.id, format!("{org}-c_old2"));
    for (line, days) in [(old1, 400), (old2, 800)] {
        assert_eq!(line.organization_id, org_id(org));
        assert_eq!(line.session_id, format!("{org}-s4"));
        assert_eq!(
            line.provider_call_id.as_deref(),
            Some(format!("pc-{}", line.id).as_str())
        );
        assert_eq!(line.from_number, "+15550000001");
        assert_eq!(line.to_number, format!("+1555{org:07}"));
        assert_eq!(line.started_at, NOW - days * DAY);
        assert_eq!(line.ended_at, Some(NOW - days * DAY + 42));
        assert_eq!(line.duration_seconds, Some(42));
    }
    let d1 = old1.disposition.as_ref().unwrap();
    assert_eq!(d1["notes"], format!("notes of {org}-c_old1"));
    assert_eq!(d1["custom_fields"]["ref"], format!("{org}-c_old1"));
    assert_eq!(d1["disposition"], "interested");
    let d2 = old2.disposition.as_ref().unwrap();
    assert_eq!(d2["notes"], "[ANONYMIZED]");
    assert_eq!(d2["custom_fields"], serde_json::json!({}));
}

/// The `retention.*` audit events of `org`: (action, details).
pub async fn audit(db: &Db, org: u32) -> Vec<(String, serde_json::Value)> {
    let org_id = org_id(org);
    let mut tx = db.write_tx(&org_id).await.unwrap();
    let rows = sqlx::query(
        "SELECT action, details FROM audit_events WHERE organization_id = $1 \
         AND action LIKE 'retention.%' ORDER BY created_at, id",
    )
    .bind(&org_id)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    rows.iter()
        .map(|r| {
            let details: String = r.get(1);
            (r.get(0), serde_json::from_str(&details).unwrap())
        })
        .collect()
}

/// The expected per-organization summary of a run.
pub const EXPECTED: [u64; 5] = [2, 1, 2, 2, 1];

/// `store`'s variables with ARCHIVE_URL for BACKUP_URL, and `database`.
pub fn env(store: &Store, database: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = store
        .env()
        .into_iter()
        .map(|(k, v)| {
            if k == "BACKUP_URL" {
                ("ARCHIVE_URL".to_owned(), v)
            } else {
                (k, v)
            }
        })
        .collect();
    env.extend_from_slice(database);
    env
}

/// Dry run, run, run again on back-dated rows of organizations 1 and 2.
pub async fn the_policy(db: &Db, store: &Store, database: &[(String, String)]) {
    seed_rows(db, 1).await;
    seed_rows(db, 2).await;
    let env = env(store, database);

    let dry = retention(&["run", "--dry-run"], &env).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.starts_with("dry run: nothing was changed"),
        "{}",
        dry.stdout
    );
    for org in [1, 2] {
        assert_eq!(summary(&dry.stdout, org), EXPECTED, "{}", dry.stdout);
        assert_eq!(rows(db, org).await, seeded(org));
        assert!(audit(db, org).await.is_empty());
    }

    let run = retention(&["run"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for org in [1, 2] {
        assert_eq!(summary(&run.stdout, org), EXPECTED, "{}", run.stdout);
        assert_eq!(rows(db, org).await, after_run(org));
        let name = archive_name(&run.stdout, org);
        assert!(
            name.starts_with(&format!("calls-{}-{NOW}", org_id(org))),
            "{name}"
        );
        let gzip = store.read(&name).await;
        check_archive(&gzip, org);
        let checksum = String::from_utf8(store.read(&format!("{name}.sha256")).await).unwrap();
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(&gzip));
        assert_eq!(checksum, format!("{sha256}  {name}\n"));
        let events = audit(db, org).await;
        assert_eq!(events.len(), 1, "{events:?}");
        let (action, details) = &events[0];
        assert_eq!(action, "retention.run");
        assert_eq!(details["sessions_deleted"], 2);
        assert_eq!(details["sessions_held"], 1);
        assert_eq!(details["calls_archived"], 2);
        assert_eq!(details["calls_deleted"], 2);
        assert_eq!(details["dispositions_anonymized"], 1);
        assert_eq!(details["archive"]["object"], name.as_str());
        assert_eq!(details["archive"]["sha256"], sha256.as_str());
    }

    // Nothing is due any more: the next run changes nothing.
    let again = retention(&["run"], &env).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    for org in [1, 2] {
        assert_eq!(
            summary(&again.stdout, org),
            [0, 1, 0, 0, 0],
            "{}",
            again.stdout
        );
        assert_eq!(rows(db, org).await, after_run(org));
        assert_eq!(audit(db, org).await.len(), 2);
    }
}

/// Organization 2's users all erased (no `user_logins` row left, as the
/// erasure leaves it; no pending erasure either): the run visits it as it
/// does organization 1, which still has its users.
pub async fn an_organization_without_users(db: &Db, store: &Store, database: &[(String, String)]) {
    seed_rows(db, 1).await;
    seed_rows(db, 2).await;
    sqlx::query("DELETE FROM user_logins WHERE organization_id = $1")
        .bind(org_id(2))
        .execute(db.primary())
        .await
        .unwrap();
    let run = retention(&["run"], &env(store, database)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for org in [1, 2] {
        assert_eq!(rows(db, org).await, after_run(org), "{}", run.stdout);
        assert_eq!(summary(&run.stdout, org), EXPECTED, "{}", run.stdout);
        assert_eq!(audit(db, org).await.len(), 1);
    }
}

/// An archive that cannot be written (a bucket that does not exist on the
/// S3 server): nothing changes, the exit status is not 0.
pub async fn a_failed_upload(db: &Db, endpoint: &str, database: &[(String, String)]) {
    seed_rows(db, 1).await;
    let store = Store::s3(endpoint).await;
    let mut env = env(&store, database);
    for (k, v) in &mut env {
        if k == "ARCHIVE_URL" {
            *v = format!("s3://no-such-bucket-{}/archive", std::process::id());
        }
    }
    let run = retention(&["run"], &env).await;
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stderr.contains("nothing deleted"), "{}", run.stderr);
    assert_eq!(rows(db, 1).await, seeded(1));
    let events = audit(db, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "retention.failed");
    assert_eq!(events[0].1["calls_deleted"], 0);
}

/// Two runs started at once: the work is done once (one holds the lock,
/// the other skips; or, if the first was done before the second began,
/// the second finds nothing due).
pub async fn two_runs_at_once(db: &Db, store: &Store, database: &[(String, String)]) {
    seed_rows(db, 1).await;
    seed_rows(db, 2).await;
    let env = env(store, database);
    let (a, b) = tokio::join!(retention(&["run"], &env), retention(&["run"], &env));
    assert_eq!((a.code, b.code), (0, 0), "{}{}", a.stderr, b.stderr);
    let skipped = [&a, &b]
        .iter()
        .filter(|o| o.stdout.contains("skipped: another run holds the lock"))
        .count();
    for org in [1, 2] {
        assert_eq!(rows(db, org).await, after_run(org));
        let archived: u64 = [&a, &b]
            .iter()
            .filter(|o| !o.stdout.contains("skipped"))
            .map(|o| summary(&o.stdout, org)[2])
            .sum();
        assert_eq!(archived, 2);
        let events = audit(db, org).await;
        let total: u64 = events
            .iter()
            .map(|(_, d)| d["calls_archived"].as_u64().unwrap())
            .sum();
        assert_eq!(total, 2, "{events:?}");
        assert_eq!(events.len(), 2 - skipped, "{events:?}");
    }
    if let Store::Folder(_) = store {
        let archives = store
            .objects()
            .into_iter()
            .filter(|o| o.ends_with(".jsonl.gz"))
            .count();
        assert_eq!(archives, 2, "one archive per organization");
    }
}

/// Whether `demo`'s log says its scheduled run (done, skipped).
pub fn scheduled(demo: &rampart_tests::Demo) -> (bool, bool) {
    let log = demo.stderr();
    (
        log.contains("scheduled retention run done"),
        log.contains("scheduled retention run skipped"),
    )
}

/// Waits until every demo in `demos` has run or skipped its slot.
pub async fn wait_for_slot(demos: &[&rampart_tests::Demo]) {
    for _ in 0..1200 {
        if demos.iter().all(|d| {
            let (done, skipped) = scheduled(d);
            done || skipped
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/metrics` of `demo`.
pub async fn metrics(demo: &rampart_tests::Demo) -> String {
    demo.client()
        .get(demo.url("/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("a body")
}

/// The value of the series `name` (the whole name with labels) in `text`.
pub fn series(text: &str, name: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// An S3 endpoint nobody listens on: nothing changes, the exit status is
/// not 0 (object_store's retries end within seconds).
pub async fn an_unreachable_store(db: &Db, database: &[(String, String)]) {
    seed_rows(db, 1).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env: Vec<(String, String)> = [
        ("ARCHIVE_URL", "s3://archive/calls".to_owned()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend_from_slice(database);
    let run = retention(&["run"], &env).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("retention run failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing deleted"), "{}", run.stderr);
    assert_eq!(rows(db, 1).await, seeded(1));
    let events = audit(db, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "retention.failed");
}
