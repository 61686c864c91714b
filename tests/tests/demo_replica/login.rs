//! A credential just written authenticates at once: login and `/auth/me`
//! read the primary, whatever the replica's lag.

use reqwest::Method;
use serde_json::json;

use crate::setup::{services, setup_with};

/// How many users are created and logged in.
const PAIRS: usize = 200;

/// An admin creates a user and the user logs in at once (then `GET
/// /auth/me` with the new token), 200 times: the first half with the
/// replica's replay paused, so that it certainly knows nothing of the new
/// user, the second half with replication running. Every login answers
/// 200. (Before the fix, login looked the email up on the replica: 199 of
/// the 200 got 401, in both halves.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_in_right_after_being_created() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup_with(
        &primary_url,
        &replica_url,
        "replica_login",
        1,
        2,
        // Every login of the loop comes from the test's one address.
        &[("RATE_LIMIT_LOGIN_ADDRESS", "100000/minute;burst=1000")],
    )
    .await;
    sqlx::query("UPDATE organizations SET max_users = 1000")
        .execute(&r.primary)
        .await
        .unwrap();
    r.caught_up().await;
    let api = &r.api;
    let admin = api.admin_of(1).await;

    let mut failures = Vec::new();
    for i in 0..PAIRS {
        if i == 0 {
            r.pause().await;
        }
        if i == PAIRS / 2 {
            r.resume().await;
        }
        let email = format!("fresh{i}@example.com");
        let created = api
            .post(
                "/api/v1/admin/users",
                &admin,
                &json!({"email": email, "full_name": "Fresh", "password": "longenough", "role": "agent"}),
            )
            .await;
        assert_eq!(created.status, 201, "{email}: {}", created.text);
        let login = api
            .send(
                Method::POST,
                "/auth/login",
                None,
                Some(&json!({"email": email, "password": "longenough"})),
            )
            .await;
        if login.status != 200 {
            failures.push(format!("{email}: login {} {}", login.status, login.text));
            continue;
        }
        let token = login.body["access_token"].as_str().expect("a token");
        let me = api.get("/auth/me", token).await;
        if me.status != 200 || me.body["email"] != email.as_str() {
            failures.push(format!("{email}: /auth/me {} {}", me.status, me.text));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {PAIRS} failed: {failures:#?}",
        failures.len()
    );
    r.stop().await;
}
