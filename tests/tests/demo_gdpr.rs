//! GDPR end to end on the embedded SQLite (issue 15): export against
//! direct SQL, deletion with its grace period and mail (a real SMTP server
//! on loopback, scripts/lib.sh start_smtp), erasure with a controlled clock
//! and a scan of every column, the audit log, privacy settings, bad input.

mod demo_api_common;

use demo_api_common::{gdpr, sqlite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_holds_every_row_of_the_caller_and_nothing_else() {
    let api = sqlite(&[], 2, 3).await;
    gdpr::export_matches_sql(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_settings_have_defaults_and_are_audited() {
    let api = sqlite(&[], 1, 2).await;
    gdpr::privacy_settings(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_has_a_grace_period_a_mail_and_a_cancel() {
    let Some((url, dir)) = gdpr::smtp() else {
        return;
    };
    let api = sqlite(&[("SMTP_URL", &url)], 1, 2).await;
    gdpr::deletion_grace_cancel_purge(&api, &dir).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_value_in_any_column() {
    let api = sqlite(&[], 2, 2).await;
    gdpr::erasure_leaves_no_trace(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_gdpr_routes_is_a_problem_never_a_500() {
    let api = sqlite(&[], 1, 2).await;
    gdpr::bad_input(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_job_erases_once_the_grace_is_over() {
    let api = sqlite(
        &[("GDPR_GRACE_DAYS", "0"), ("GDPR_PURGE_INTERVAL_SECS", "1")],
        1,
        2,
    )
    .await;
    gdpr::the_server_job_erases(&api).await;
    api.stop().await;
}
