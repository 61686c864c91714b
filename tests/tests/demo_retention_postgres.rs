//! `operator-demo retention run` on Postgres as the app's role (not the
//! owner, neither superuser nor BYPASSRLS): each organization in its own
//! transactions under row-level security. The scenarios of
//! `demo_retention.rs`, and two replicas whose daily run falls at the same
//! second.

mod demo_api_common;
mod demo_backup_common;
mod demo_retention_common;

use demo_api_common::{API, Api, BIN, GLOBAL, PROXY, postgres};
use demo_backup_common::{Store, schedule_at};
use demo_retention_common::{
    a_failed_upload, after_run, an_organization_without_users, an_unreachable_store, audit, env,
    metrics, rows, scheduled, seed_rows_at, series, the_policy, two_runs_at_once, wait_for_slot,
};
use rampart_tests::{Demo, database_url};

const OFF: [(&str, &str); 2] = [("BACKUP_SCHEDULE", "off"), ("RETENTION_SCHEDULE", "off")];

fn app_role(api: &Api) -> Vec<(String, String)> {
    let pg = api.postgres.as_ref().expect("a Postgres demo");
    vec![("DATABASE_URL".into(), pg.app_url.clone())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_archives_deletes_and_anonymizes_exactly() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "retention_policy", &OFF, 2, 1).await;
    the_policy(
        api.app_sql.as_ref().unwrap(),
        &Store::folder(),
        &app_role(&api),
    )
    .await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_whose_users_were_all_erased_is_visited() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "retention_erased", &OFF, 2, 1).await;
    an_organization_without_users(
        api.app_sql.as_ref().unwrap(),
        &Store::folder(),
        &app_role(&api),
    )
    .await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_goes_through_a_real_s3_server() {
    let Some(url) = database_url() else { return };
    let Some(endpoint) = rampart_tests::s3_url() else {
        return;
    };
    let api = postgres(&url, "retention_s3", &OFF, 2, 1).await;
    let store = Store::s3(&endpoint).await;
    the_policy(api.app_sql.as_ref().unwrap(), &store, &app_role(&api)).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_deletes_nothing() {
    let Some(url) = database_url() else { return };
    let Some(endpoint) = rampart_tests::s3_url() else {
        return;
    };
    let api = postgres(&url, "retention_fail", &OFF, 1, 1).await;
    a_failed_upload(api.app_sql.as_ref().unwrap(), &endpoint, &app_role(&api)).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_deletes_nothing() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "retention_down", &OFF, 1, 1).await;
    an_unreachable_store(api.app_sql.as_ref().unwrap(), &app_role(&api)).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_do_the_work_once() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "retention_twice", &OFF, 2, 1).await;
    two_runs_at_once(
        api.app_sql.as_ref().unwrap(),
        &Store::folder(),
        &app_role(&api),
    )
    .await;
    api.stop().await;
}

/// Two replicas whose daily run falls at the same second: one runs, the
/// other waits for the lock, finds this slot's run in the audit log and
/// skips; both export its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_at_the_same_slot_run_once() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "retention_sched", &OFF, 2, 1).await;
    let app = api.app_sql.as_ref().unwrap();
    let now = operator_demo::db::now();
    seed_rows_at(app, 1, now).await;
    seed_rows_at(app, 2, now).await;
    let pg = api.postgres.as_ref().unwrap();
    let store = Store::folder();
    let archive_url = env(&store, &[])[0].1.clone();
    // Far enough ahead that both have started on a loaded machine.
    let slot = now + 25;
    let schedule = schedule_at(slot);
    let vars = [
        GLOBAL,
        API,
        PROXY,
        ("BACKUP_SCHEDULE", "off"),
        ("DATABASE_URL", pg.app_url.as_str()),
        ("ARCHIVE_URL", archive_url.as_str()),
        ("RETENTION_SCHEDULE", schedule.as_str()),
    ];
    let first = Demo::start(BIN, &vars).await;
    let second = Demo::start(BIN, &vars).await;
    assert!(
        operator_demo::db::now() < slot,
        "both servers started before the slot"
    );
    for demo in [&first, &second] {
        let text = metrics(demo).await;
        assert_eq!(
            series(&text, "retention_last_success_timestamp_seconds"),
            Some(0),
            "{text}"
        );
        for action in operator_demo::retention::ACTIONS {
            let name = format!("retention_rows_total{{action=\"{action}\"}}");
            assert_eq!(series(&text, &name), Some(0), "{name}: {text}");
        }
    }
    wait_for_slot(&[&first, &second]).await;
    let outcomes = [scheduled(&first), scheduled(&second)];
    assert_eq!(
        outcomes.iter().filter(|o| o.0).count(),
        1,
        "{outcomes:?}\n{}\n{}",
        first.stderr(),
        second.stderr()
    );
    assert_eq!(outcomes.iter().filter(|o| o.1).count(), 1, "{outcomes:?}");
    for org in [1, 2] {
        assert_eq!(rows(app, org).await, after_run(org));
        let events = audit(app, org).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].1["calls_archived"], 2);
    }
    let archives = store
        .objects()
        .into_iter()
        .filter(|o| o.ends_with(".jsonl.gz"))
        .count();
    assert_eq!(archives, 2, "one archive per organization");
    let mut archived = 0;
    for demo in [&first, &second] {
        let text = metrics(demo).await;
        let last = series(&text, "retention_last_success_timestamp_seconds").unwrap();
        assert!(last >= slot, "{text}");
        archived += series(&text, "retention_rows_total{action=\"call_archived\"}").unwrap();
    }
    assert_eq!(archived, 4, "counted by the replica that ran");
    drop((first, second));
    api.stop().await;
}
