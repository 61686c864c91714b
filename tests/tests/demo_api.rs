//! The operator-demo API end to end on its embedded SQLite: the real
//! program, a fresh DATA_DIR per test, seeded, driven over HTTP.

mod demo_api_common;

use demo_api_common::{sqlite, suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_works() {
    let api = sqlite(&[], 2, 3).await;
    suite::every_route(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_see_only_their_own_rows() {
    let api = sqlite(&[], 2, 3).await;
    suite::tenant_isolation(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_problem_never_a_500() {
    let api = sqlite(&[], 1, 2).await;
    suite::bad_input(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixth_bad_login_is_429() {
    let api = sqlite(&[], 1, 2).await;
    suite::login_limit(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_users_behind_a_trusted_proxy_all_log_in() {
    let api = sqlite(&[], 4, 25).await;
    suite::hundred_users(&api, 100).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_per_organization() {
    let api = sqlite(&[], 2, 3).await;
    suite::quotas(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_emails_cost_the_same_statements() {
    let api = sqlite(&suite::STATEMENT_LOGS, 1, 2).await;
    suite::login_work(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_users_reveal_no_other_organization() {
    let api = sqlite(&[], 2, 3).await;
    suite::new_users_reveal_no_other_organization(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_campaigns_are_rate_limited() {
    let api = sqlite(&[("RATE_LIMIT_API", "3/minute")], 1, 2).await;
    suite::legacy_campaigns_are_rate_limited(&api).await;
    api.stop().await;
}
