//! `operator-demo retention run` on Postgres as the app's role (not the
//! owner, neither superuser nor BYPASSRLS): each organization in its own
//! transactions under row-level security. The scenarios of
//! `demo_retention.rs`.

mod demo_api_common;
mod demo_backup_common;
mod demo_retention_common;

use demo_api_common::{Api, postgres};
use demo_backup_common::Store;
use demo_retention_common::{a_failed_upload, the_policy, two_runs_at_once};
use rampart_tests::database_url;

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
