//! GDPR end to end on Postgres (issue 15), the app connecting as a role
//! that owns nothing, is neither superuser nor BYPASSRLS and has no UPDATE
//! or DELETE on audit_events: the scenarios of `demo_gdpr.rs`, plus the
//! audit log's append-only guarantee and two purges racing.

mod demo_api_common;

use demo_api_common::{gdpr, postgres};
use operator_demo::db::{Freshness, seed::org_id};
use rampart_tests::database_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_holds_every_row_of_the_caller_and_nothing_else() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "gdpr_export", &[], 2, 3).await;
    gdpr::export_matches_sql(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_settings_have_defaults_and_are_audited() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "gdpr_privacy", &[], 1, 2).await;
    gdpr::privacy_settings(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_has_a_grace_period_a_mail_and_a_cancel() {
    let Some(url) = database_url() else { return };
    let Some((smtp, dir)) = gdpr::smtp() else {
        return;
    };
    let api = postgres(&url, "gdpr_delete", &[("SMTP_URL", &smtp)], 1, 2).await;
    gdpr::deletion_grace_cancel_purge(&api, &dir).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_value_in_any_column() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "gdpr_scan", &[], 2, 2).await;
    gdpr::erasure_leaves_no_trace(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_gdpr_routes_is_a_problem_never_a_500() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "gdpr_input", &[], 1, 2).await;
    gdpr::bad_input(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_job_erases_once_the_grace_is_over() {
    let Some(url) = database_url() else { return };
    let env = [("GDPR_GRACE_DAYS", "0"), ("GDPR_PURGE_INTERVAL_SECS", "1")];
    let api = postgres(&url, "gdpr_job", &env, 1, 2).await;
    gdpr::the_server_job_erases(&api).await;
    api.stop().await;
}

/// The app's role can add audit events but not change or remove one, in
/// its own organization's transaction; with UPDATE and DELETE granted by
/// mistake, the trigger still refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_role_cannot_change_the_audit_log() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "gdpr_append", &[], 1, 2).await;
    let agent = api.agent_of(1).await;
    api.get("/api/v1/gdpr/export", &agent).await.ok(200);
    let app = api.app_sql.as_ref().unwrap();
    let org = org_id(1);
    let visible: i64 = app
        .read(&org, Freshness::MayLag, |tx| {
            Box::pin(async move {
                sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
                    .fetch_one(&mut **tx)
                    .await
            })
        })
        .await
        .unwrap();
    assert_eq!(visible, 1);
    let attempts = [
        "UPDATE audit_events SET action = 'tampered'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ];
    for sql in attempts {
        let mut tx = app.write_tx(&org).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    let role = format!("{}_app", api.postgres.as_ref().unwrap().name);
    let grant = format!("GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO {role}");
    sqlx::query(sqlx::AssertSqlSafe(grant))
        .execute(api.admin_sql.primary())
        .await
        .unwrap();
    for sql in attempts {
        let mut tx = app.write_tx(&org).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    // Adding is allowed, and the row is there, unchanged.
    let mut tx = app.write_tx(&org).await.unwrap();
    sqlx::query(
        "INSERT INTO audit_events (id, organization_id, action, target_type, created_at) \
         VALUES ('0190d6f2-7b7c-7cc0-8f5e-1a2b3c4d5e6f', $1, 'test.insert', 'test', 0)",
    )
    .bind(&org)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events ORDER BY created_at")
            .fetch_all(api.admin_sql.primary())
            .await
            .unwrap();
    assert_eq!(actions, ["test.insert", "gdpr.export"]);
    api.stop().await;
}

/// Two replicas purging at the same moment erase each account once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_purges_at_once_erase_each_account_once() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "gdpr_race", &[], 1, 2).await;
    let mut due = 0;
    for n in 0..4 {
        let email = format!("race{n}-{}@example.com", gdpr::tag());
        let (_, _, erase_after) = gdpr::leaving_user(&api, 1, &email).await;
        due = due.max(erase_after);
    }
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| gdpr::purge(&api, due));
        let b = scope.spawn(|| gdpr::purge(&api, due));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a + b, 4, "{a} + {b}");
    let erasures: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'gdpr.erasure'")
            .fetch_one(api.admin_sql.primary())
            .await
            .unwrap();
    assert_eq!(erasures, 4);
    api.stop().await;
}
