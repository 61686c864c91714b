//! Row-level security through `begin_tenant_tx`, against the real Postgres:
//! the app connects as a role that does not own the tables.

#![cfg(all(feature = "sqlx-any", feature = "sqlx-postgres"))]

mod common;

use std::sync::Arc;

use rampart_tenant::{
    TenantId,
    sqlx::{CheckRlsError, RlsProblem, RlsStatus, begin_tenant_tx, check_rls},
};
use sqlx::{AnyPool, Executor, Row, any::AnyPoolOptions};

fn tenant(id: &str) -> TenantId {
    id.parse().unwrap()
}

async fn any_pool(url: &str, max: u32) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(max)
        .connect(url)
        .await
        .expect("connect as the app role")
}

/// Two organizations with three companies each, inserted as the superuser.
async fn seed(db: &common::pg::Db) {
    let admin = any_pool(&db.admin, 1).await;
    admin
        .execute(
            "INSERT INTO organizations (id) VALUES ('org-a'), ('org-b'); \
             INSERT INTO companies (organization_id, name) VALUES \
               ('org-a', 'a1'), ('org-a', 'a2'), ('org-a', 'a3'), \
               ('org-b', 'b1'), ('org-b', 'b2'), ('org-b', 'b3');",
        )
        .await
        .expect("seed");
    admin.close().await;
}

async fn orgs_seen(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Vec<String> {
    sqlx::query("SELECT organization_id FROM companies ORDER BY id")
        .fetch_all(&mut **tx)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect()
}

#[tokio::test]
async fn no_tenant_set_sees_no_rows() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    seed(&db).await;
    let pool = any_pool(&db.app, 2).await;

    // Straight on the pool, and in a transaction without the setting.
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM companies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    let mut tx = pool.begin().await.unwrap();
    assert!(orgs_seen(&mut tx).await.is_empty());
    // Writing without a tenant is refused by WITH CHECK.
    let insert = sqlx::query("INSERT INTO companies (organization_id, name) VALUES ('org-a', 'x')")
        .execute(&mut *tx)
        .await;
    assert!(insert.is_err(), "{insert:?}");
}

#[tokio::test]
async fn tenant_cannot_read_update_or_delete_another_tenants_rows() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    seed(&db).await;
    let pool = any_pool(&db.app, 2).await;

    let mut tx = begin_tenant_tx(&pool, &tenant("org-a")).await.unwrap();
    assert_eq!(orgs_seen(&mut tx).await, ["org-a"; 3]);
    // No `WHERE organization_id`: the policy adds it.
    let updated = sqlx::query("UPDATE companies SET name = 'renamed'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 3);
    let deleted = sqlx::query("DELETE FROM companies WHERE organization_id = 'org-b'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    let deleted = sqlx::query("DELETE FROM companies WHERE name = 'b1'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    // Moving a row to the other tenant, or inserting one for it: WITH CHECK.
    let moved =
        sqlx::query("UPDATE companies SET organization_id = 'org-b' WHERE name = 'renamed'")
            .execute(&mut *tx)
            .await;
    assert!(moved.is_err(), "{moved:?}");
    tx.rollback().await.unwrap();

    let mut tx = begin_tenant_tx(&pool, &tenant("org-a")).await.unwrap();
    let inserted =
        sqlx::query("INSERT INTO companies (organization_id, name) VALUES ('org-b', 'planted')")
            .execute(&mut *tx)
            .await;
    assert!(inserted.is_err(), "{inserted:?}");
    drop(tx);

    // Commit A's update, then look as B: untouched.
    let mut tx = begin_tenant_tx(&pool, &tenant("org-a")).await.unwrap();
    sqlx::query("UPDATE companies SET name = 'renamed'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = begin_tenant_tx(&pool, &tenant("org-b")).await.unwrap();
    let names: Vec<String> = sqlx::query("SELECT name FROM companies ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(names, ["b1", "b2", "b3"]);
}

#[tokio::test]
async fn the_setting_ends_with_the_transaction() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    seed(&db).await;
    // One connection: whatever the transaction left, the next user gets.
    let pool = any_pool(&db.app, 1).await;
    let tx = begin_tenant_tx(&pool, &tenant("org-a")).await.unwrap();
    tx.commit().await.unwrap();
    let setting: Option<String> =
        sqlx::query_scalar("SELECT NULLIF(current_setting('app.current_org_id', true), '')")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(setting, None);
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM companies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);

    // A transaction dropped without commit (a handler that returned early).
    let tx = begin_tenant_tx(&pool, &tenant("org-b")).await.unwrap();
    drop(tx);
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM companies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

/// What the plan's sketch would do if written as a plain `SET`: the next
/// request on the same pooled connection sees the previous tenant's rows.
/// This is the leak the test below would catch.
#[tokio::test]
async fn plain_set_would_leak_through_the_pool() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    seed(&db).await;
    let pool = any_pool(&db.app, 1).await;
    sqlx::query("SET app.current_org_id = 'org-a'")
        .execute(&pool)
        .await
        .unwrap();
    // "Another request", same connection, no tenant of its own.
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM companies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 3, "plain SET stays on the pooled connection");
}

#[tokio::test]
async fn a_thousand_interleaved_requests_over_two_connections_never_cross() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    seed(&db).await;
    let pool = any_pool(&db.app, 2).await;
    let pool = Arc::new(pool);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000_u32 {
        let pool = Arc::clone(&pool);
        tasks.spawn(async move {
            let own = if i % 2 == 0 { "org-a" } else { "org-b" };
            let mut tx = begin_tenant_tx(&pool, &tenant(own)).await.unwrap();
            let seen = orgs_seen(&mut tx).await;
            assert_eq!(seen.len(), 3, "request {i} for {own} saw {seen:?}");
            assert!(
                seen.iter().all(|o| o == own),
                "request {i} for {own} saw {seen:?}"
            );
            // End the transaction every way a handler can: commit, rollback,
            // drop, and an error that aborts it.
            match i % 4 {
                0 => tx.commit().await.unwrap(),
                1 => tx.rollback().await.unwrap(),
                2 => drop(tx),
                _ => {
                    let failed = sqlx::query("SELECT 1/0").execute(&mut *tx).await;
                    assert!(failed.is_err());
                    drop(tx);
                }
            }
            // Between requests, on whatever connection comes next: nothing.
            let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM companies")
                .fetch_one(&*pool)
                .await
                .unwrap();
            assert_eq!(
                count, 0,
                "request {i}: a tenant was left on a pooled connection"
            );
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("no request saw another tenant's rows");
    }
}

#[tokio::test]
async fn pg_pool_works_the_same() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    seed(&db).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db.app)
        .await
        .unwrap();
    let mut tx = begin_tenant_tx(&pool, &tenant("org-b")).await.unwrap();
    let orgs: Vec<String> = sqlx::query_scalar("SELECT organization_id FROM companies")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(orgs, ["org-b"; 3]);
    assert_eq!(
        check_rls(&pool, &["companies", "users"]).await.unwrap(),
        RlsStatus::Enforced
    );
}

#[tokio::test]
async fn check_rls_passes_for_the_app_role_on_forced_tables() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    let pool = any_pool(&db.app, 1).await;
    assert_eq!(
        check_rls(&pool, &["companies", "users"]).await.unwrap(),
        RlsStatus::Enforced
    );
}

#[tokio::test]
async fn check_rls_lists_every_problem() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    let pool = any_pool(&db.app, 1).await;
    let err = check_rls(
        &pool,
        &["companies", "not_forced", "not_enabled", "missing"],
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.problems(),
        [
            RlsProblem::NotForced {
                table: "not_forced".into()
            },
            RlsProblem::NotEnabled {
                table: "not_enabled".into()
            },
            RlsProblem::NotForced {
                table: "not_enabled".into()
            },
            RlsProblem::MissingTable {
                table: "missing".into()
            },
        ]
    );
    let message = err.to_string();
    assert!(
        message.contains("ALTER TABLE not_forced FORCE ROW LEVEL SECURITY"),
        "{message}"
    );
    assert!(message.contains("\"missing\" does not exist"), "{message}");

    // The superuser and a BYPASSRLS role skip every policy.
    let admin = any_pool(&db.admin, 1).await;
    let err = check_rls(&admin, &["companies"]).await.unwrap_err();
    assert!(
        matches!(err.problems(), [RlsProblem::Superuser { .. }, ..]),
        "{err}"
    );
    let bypass = any_pool(&db.bypass, 1).await;
    let err = check_rls(&bypass, &["companies"]).await.unwrap_err();
    assert!(
        matches!(err.problems(), [RlsProblem::BypassRls { .. }]),
        "{err}"
    );
    assert!(matches!(err, CheckRlsError::Unsafe(_)));
}
