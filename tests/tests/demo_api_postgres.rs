//! The operator-demo API end to end on Postgres: a database of its own per
//! test, migrated by the owner, the app connecting as a role that owns
//! nothing and is neither superuser nor BYPASSRLS, so row-level security
//! applies. The same scenarios as on SQLite, plus direct SQL under RLS.

mod demo_api_common;

use demo_api_common::{postgres, suite};
use operator_demo::db::{Freshness, seed::org_id};
use rampart_tests::{database_url, run_to_exit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_works() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "routes", &[], 2, 3).await;
    suite::every_route(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_see_only_their_own_rows() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "isolation", &[], 2, 3).await;
    suite::tenant_isolation(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_problem_never_a_500() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "input", &[], 1, 2).await;
    suite::bad_input(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixth_bad_login_is_429() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "login", &[], 1, 2).await;
    suite::login_limit(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_users_behind_a_trusted_proxy_all_log_in() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "hundred", &[], 4, 25).await;
    suite::hundred_users(&api, 100).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_per_organization() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "quotas", &[], 2, 3).await;
    suite::quotas(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_emails_cost_the_same_statements() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "work", &suite::STATEMENT_LOGS, 1, 2).await;
    suite::login_work(&api).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_users_reveal_no_other_organization() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "disclose", &[], 2, 3).await;
    suite::new_users_reveal_no_other_organization(&api).await;
    api.stop().await;
}

/// Under the app's role, the database itself keeps organizations apart:
/// no tenant set, no rows; tenant 1 cannot read, change or add tenant 2's
/// rows even with no `WHERE organization_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_holds_for_the_app_role() {
    let Some(url) = database_url() else { return };
    let api = postgres(&url, "rls", &[], 2, 2).await;
    let app = api.app_sql.as_ref().unwrap();
    let (one, two) = (org_id(1), org_id(2));

    for table in ["organizations", "users", "companies", "campaigns"] {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        let outside: i64 = sqlx::query_scalar(sql)
            .fetch_one(app.primary())
            .await
            .unwrap();
        assert_eq!(outside, 0, "{table} without a tenant");
        let inside: i64 = app
            .read(&one, Freshness::MayLag, |tx| {
                let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
                Box::pin(async move { sqlx::query_scalar(sql).fetch_one(&mut **tx).await })
            })
            .await
            .unwrap();
        assert!(inside >= 1, "{table} of tenant 1");
    }

    let mut tx = app.write_tx(&one).await.unwrap();
    let changed = sqlx::query("UPDATE companies SET name = 'pwned'")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1, "only tenant 1's company");
    let deleted = sqlx::query("DELETE FROM campaigns WHERE organization_id = $1")
        .bind(&two)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);
    tx.commit().await.unwrap();

    let mut tx = app.write_tx(&one).await.unwrap();
    let smuggled = sqlx::query(
        "INSERT INTO companies (id, organization_id, name, created_at, updated_at) \
         VALUES ('0190d6f2-7b7c-7cc0-8f5e-1a2b3c4d5e6f', $1, 'x', 0, 0)",
    )
    .bind(&two)
    .execute(&mut *tx)
    .await;
    assert!(smuggled.is_err(), "WITH CHECK refuses another tenant's row");
    drop(tx);

    // Tenant 2's company is untouched, as the owner sees it.
    let name: String = sqlx::query_scalar("SELECT name FROM companies WHERE organization_id = $1")
        .bind(&two)
        .fetch_one(api.admin_sql.primary())
        .await
        .unwrap();
    assert_eq!(name, "Company of organization 2");

    // Through the API, tenant 2 still sees its own name.
    let token = api.agent_of(2).await;
    let list = api.get("/api/v1/companies", &token).await;
    assert_eq!(
        list.ok(200)["items"][0]["name"],
        "Company of organization 2"
    );
    api.stop().await;
}

/// The app refuses to serve as a superuser (RLS would hide nothing), and
/// with pending migrations; it names what to fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_role_and_pending_migrations_stop_start_up() {
    let Some(url) = database_url() else { return };
    let pg = demo_api_common::PgDatabase::create(&url, "startup").await;
    let bin = demo_api_common::BIN;
    let (status, stderr) = run_to_exit(
        bin,
        &[],
        &[
            ("DATABASE_URL", &pg.owner_url),
            ("BIND_ADDR", "127.0.0.1:0"),
        ],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("superuser"),
        "{stderr}"
    );
    // In production the escape hatch is refused too.
    let (status, stderr) = run_to_exit(
        bin,
        &[],
        &[
            ("DATABASE_URL", &pg.owner_url),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("ALLOW_PRIVILEGED_DB_ROLE", "true"),
            ("ENVIRONMENT", "production"),
        ],
    );
    assert!(!status.success());
    assert!(stderr.contains("ALLOW_PRIVILEGED_DB_ROLE"), "{stderr}");
    // Seeding is refused in production.
    let (status, stderr) = run_to_exit(
        bin,
        &["seed"],
        &[("DATABASE_URL", &pg.app_url), ("ENVIRONMENT", "production")],
    );
    assert!(!status.success());
    assert!(stderr.contains("ENVIRONMENT"), "{stderr}");
    // Migrations reverted: the app role's start-up says to migrate.
    let (status, stderr) = run_to_exit(
        bin,
        &["migrate", "down", "--to", "0"],
        &[("DATABASE_URL", &pg.owner_url)],
    );
    assert!(status.success(), "{stderr}");
    let (status, stderr) = run_to_exit(
        bin,
        &[],
        &[("DATABASE_URL", &pg.app_url), ("BIND_ADDR", "127.0.0.1:0")],
    );
    assert!(!status.success());
    assert!(stderr.contains("migrate up"), "{stderr}");
    pg.drop_database().await;
}
