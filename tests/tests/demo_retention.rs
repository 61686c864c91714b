//! `operator-demo retention run` on the embedded SQLite database (issue
//! 15): exact counts on back-dated rows, the archive read back from a
//! folder and from a real S3-compatible server, a failed upload that
//! deletes nothing, `--dry-run`, two runs at once, bad settings, and the
//! server's daily run with its series.

mod demo_api_common;
mod demo_backup_common;
mod demo_retention_common;

use demo_api_common::{Api, sqlite};
use demo_backup_common::{Store, schedule_at};
use demo_retention_common::{
    a_failed_upload, after_run, an_organization_without_users, an_unreachable_store, audit, env,
    metrics, retention, rows, scheduled, seed_rows_at, series, the_policy, two_runs_at_once,
    wait_for_slot,
};

const OFF: [(&str, &str); 2] = [("BACKUP_SCHEDULE", "off"), ("RETENTION_SCHEDULE", "off")];

fn database(api: &Api) -> Vec<(String, String)> {
    vec![("DATA_DIR".into(), api.demo.data_dir().display().to_string())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_archives_deletes_and_anonymizes_exactly() {
    let api = sqlite(&OFF, 2, 1).await;
    the_policy(&api.admin_sql, &Store::folder(), &database(&api)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_whose_users_were_all_erased_is_visited() {
    let api = sqlite(&OFF, 2, 1).await;
    an_organization_without_users(&api.admin_sql, &Store::folder(), &database(&api)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_goes_through_a_real_s3_server() {
    let Some(endpoint) = rampart_tests::s3_url() else {
        return;
    };
    let api = sqlite(&OFF, 2, 1).await;
    the_policy(&api.admin_sql, &Store::s3(&endpoint).await, &database(&api)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_deletes_nothing() {
    let Some(endpoint) = rampart_tests::s3_url() else {
        return;
    };
    let api = sqlite(&OFF, 1, 1).await;
    a_failed_upload(&api.admin_sql, &endpoint, &database(&api)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_deletes_nothing() {
    let api = sqlite(&OFF, 1, 1).await;
    an_unreachable_store(&api.admin_sql, &database(&api)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_do_the_work_once() {
    let api = sqlite(&OFF, 2, 1).await;
    two_runs_at_once(&api.admin_sql, &Store::folder(), &database(&api)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_periods_are_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = ("DATA_DIR".to_owned(), dir.path().display().to_string());
    for (variable, value) in [
        ("RETENTION_CALLS_DAYS", "0"),
        ("RETENTION_SESSIONS_DAYS", "-1"),
        ("RETENTION_DISPOSITIONS_DAYS", "a year"),
        ("RETENTION_BATCH_SIZE", "0"),
        ("RETENTION_CALLS_DAYS", "36501"),
    ] {
        let out = retention(
            &["run"],
            &[data_dir.clone(), (variable.into(), value.into())],
        )
        .await;
        assert_eq!(out.code, 2, "{variable}={value}: {}", out.stderr);
        assert!(out.stderr.contains(variable), "{variable}: {}", out.stderr);
    }
    let out = retention(
        &["run"],
        &[
            data_dir,
            ("ARCHIVE_URL".into(), "ftp://example.com/x".into()),
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("ARCHIVE_URL"), "{}", out.stderr);
}

/// The server's daily run: the series are exported at 0 from the start,
/// the run at `RETENTION_SCHEDULE` does the work and sets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_retention_at_its_schedule() {
    let store = Store::folder();
    let archive_url = env(&store, &[])[0].1.clone();
    // Far enough ahead that the demo has started and been seeded.
    let slot = operator_demo::db::now() + 20;
    let schedule = schedule_at(slot);
    let api = sqlite(
        &[
            ("BACKUP_SCHEDULE", "off"),
            ("RETENTION_SCHEDULE", &schedule),
            ("ARCHIVE_URL", &archive_url),
        ],
        2,
        1,
    )
    .await;
    let now = operator_demo::db::now();
    seed_rows_at(&api.admin_sql, 1, now).await;
    seed_rows_at(&api.admin_sql, 2, now).await;
    let text = metrics(&api.demo).await;
    assert!(operator_demo::db::now() < slot, "seeded before the slot");
    assert_eq!(
        series(&text, "retention_last_success_timestamp_seconds"),
        Some(0),
        "{text}"
    );
    for action in operator_demo::retention::ACTIONS {
        let name = format!("retention_rows_total{{action=\"{action}\"}}");
        assert_eq!(series(&text, &name), Some(0), "{name}: {text}");
    }
    wait_for_slot(&[&api.demo]).await;
    assert_eq!(scheduled(&api.demo), (true, false), "{}", api.demo.stderr());
    for org in [1, 2] {
        assert_eq!(rows(&api.admin_sql, org).await, after_run(org));
        assert_eq!(audit(&api.admin_sql, org).await.len(), 1);
    }
    let text = metrics(&api.demo).await;
    assert!(
        series(&text, "retention_last_success_timestamp_seconds").unwrap() >= slot,
        "{text}"
    );
    for (action, rows) in [
        ("session_deleted", 4),
        ("call_archived", 4),
        ("call_deleted", 4),
        ("disposition_anonymized", 2),
    ] {
        let name = format!("retention_rows_total{{action=\"{action}\"}}");
        assert_eq!(series(&text, &name), Some(rows), "{name}: {text}");
    }
    assert_eq!(
        store
            .objects()
            .into_iter()
            .filter(|o| o.ends_with(".jsonl.gz"))
            .count(),
        2
    );
}
