//! Databases for the API's unit tests: a migrated, seeded SQLite file, and
//! the same on a Postgres database of its own when `DATABASE_URL` is set.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::db::{
    Db, DbConfig, now,
    seed::{SeedPlan, seed},
};

/// A database of its own on the dev or CI Postgres (`DATABASE_URL`, a
/// superuser), migrated and seeded (see [`seeded`]); dropped by
/// [`drop_pg`]. Returns the database, the superuser URL and the name.
pub(super) async fn postgres() -> Option<(Db, String, String)> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let Ok(url) = std::env::var("DATABASE_URL") else {
        let required = std::env::var("RAMPART_REQUIRE_SERVICES")
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
        assert!(
            !required,
            "DATABASE_URL is not set but RAMPART_REQUIRE_SERVICES=1"
        );
        println!("skipped on Postgres: DATABASE_URL is not set");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!(
        "operator_demo_api_{}_{}_{}",
        std::process::id(),
        now() % 1_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sqlx::AnyPool::connect(&url)
        .await
        .expect("connect as superuser");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create database");
    admin.close().await;
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    let own = if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    };
    Some((seeded(&own).await, url, name))
}

/// Closes `db` and drops its database.
pub(super) async fn drop_pg(db: Db, url: &str, name: &str) {
    db.close().await;
    let admin = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
}

/// The database at `url`, migrated, with two organizations of one user,
/// one company and one campaign each.
pub(super) async fn seeded(url: &str) -> Db {
    let db = Db::connect(&DbConfig::from_url(url)).await.unwrap();
    db.migrate_up().await.unwrap();
    let plan = SeedPlan {
        orgs: 2,
        users_per_org: 1,
    };
    seed(&db, plan, "$argon2id$placeholder").await.unwrap();
    db
}

/// The id of one of `org`'s seeded users.
#[cfg(feature = "telephony")]
pub(super) async fn a_user(db: &Db, org: &str) -> String {
    let mut tx = db.write_tx(org).await.unwrap();
    let user = sqlx::query_scalar("SELECT id FROM users WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    user
}

/// A session of `user` in `org` starting at `at` (Unix seconds), with
/// fresh ids, as a start would store it.
#[cfg(feature = "telephony")]
pub(super) fn new_session(org: &str, user: &str, at: i64) -> crate::db::sessions::NewSession {
    crate::db::sessions::NewSession {
        id: crate::db::new_id(),
        call_id: crate::db::new_id(),
        org: org.to_owned(),
        user: user.to_owned(),
        campaign_id: None,
        provider_type: "t".to_owned(),
        telephony_provider: "simulated",
        from: "+15005550006".to_owned(),
        to: "+15005550006".to_owned(),
        at,
    }
}
