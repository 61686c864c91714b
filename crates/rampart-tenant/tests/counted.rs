//! Counted resources are race-free against concurrent creates: the count,
//! the check and the insert in one transaction that holds
//! `lock_tenant_resource` (Postgres) or the write lock (SQLite).

#![cfg(all(
    feature = "sqlx-any",
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite"
))]

mod common;

use std::time::Duration;

use rampart_tenant::{
    Limits, Tenant,
    sqlx::{RlsStatus, begin_tenant_tx, check_rls, lock_tenant_resource},
};
use sqlx::{AnyPool, any::AnyPoolOptions};

const CREATES: usize = 20;
const MAX_USERS: u64 = 5;

/// One "create user" handler: lock, count, check, insert, commit.
/// `Ok(true)` created, `Ok(false)` refused by the quota.
async fn create_user(
    pool: &AnyPool,
    tenant: &Tenant,
    n: usize,
    sqlite: bool,
) -> Result<bool, sqlx::Error> {
    let mut tx = begin_tenant_tx(pool, tenant.id()).await?;
    lock_tenant_resource(&mut tx, tenant.id(), "users").await?;
    // On Postgres RLS scopes the count; on SQLite the app filters.
    let count: i64 = if sqlite {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE organization_id = ?")
            .bind(tenant.id().as_str())
            .fetch_one(&mut *tx)
            .await?
    } else {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?
    };
    if tenant
        .check_count("users", u64::try_from(count).unwrap_or(0))
        .is_err()
    {
        return Ok(false); // dropped: rolled back
    }
    // Widen the window between the count and the insert: without the lock,
    // every create would see room.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let insert = if sqlite {
        "INSERT INTO users (organization_id, email) VALUES (?, ?)"
    } else {
        "INSERT INTO users (organization_id, email) VALUES ($1, $2)"
    };
    sqlx::query(insert)
        .bind(tenant.id().as_str())
        .bind(format!("user{n}@example.com"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

async fn race(pool: AnyPool, sqlite: bool) -> (usize, usize) {
    let tenant = Tenant::new(
        "org-a".parse().unwrap(),
        Limits::new().counted("users", MAX_USERS),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CREATES {
        let pool = pool.clone();
        let tenant = tenant.clone();
        tasks.spawn(async move { create_user(&pool, &tenant, n, sqlite).await.unwrap() });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        if result.unwrap() {
            created += 1;
        } else {
            refused += 1;
        }
    }
    (created, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_pass_the_quota_on_postgres() {
    let Some(db) = common::pg::database().await else {
        return;
    };
    sqlx::any::install_default_drivers();
    let admin = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db.admin)
        .await
        .unwrap();
    sqlx::query("INSERT INTO organizations (id) VALUES ('org-a'), ('org-b')")
        .execute(&admin)
        .await
        .unwrap();
    // org-b's users do not count against org-a.
    sqlx::query("INSERT INTO users (organization_id, email) VALUES ('org-b', 'b@example.com')")
        .execute(&admin)
        .await
        .unwrap();
    let pool = AnyPoolOptions::new()
        .max_connections(5)
        .connect(&db.app)
        .await
        .unwrap();
    assert_eq!(race(pool, false).await, (5, CREATES - 5));
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE organization_id = 'org-a'")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(count, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_pass_the_quota_on_sqlite() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let pool = AnyPoolOptions::new()
        .max_connections(5)
        .connect(&url)
        .await
        .unwrap();
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, organization_id TEXT NOT NULL, email TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        check_rls(&pool, &["users"]).await.unwrap(),
        RlsStatus::NotSupported
    );
    assert_eq!(race(pool.clone(), true).await, (5, CREATES - 5));
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 5);
}

#[tokio::test]
async fn sqlite_pool_without_any_has_the_same_api() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("plain.db").display()
    );
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect(&url)
        .await
        .unwrap();
    let tenant: rampart_tenant::TenantId = "org-a".parse().unwrap();
    let mut tx = begin_tenant_tx(&pool, &tenant).await.unwrap();
    lock_tenant_resource(&mut tx, &tenant, "users")
        .await
        .unwrap();
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(one, 1);
    tx.commit().await.unwrap();
    assert_eq!(
        check_rls(&pool, &["anything"]).await.unwrap(),
        RlsStatus::NotSupported
    );
}
