//! `Db::read` on the replica: a read that fails once its transaction is open
//! runs again on the primary, in the same call, without a restart.

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use std::time::Duration;

use operator_demo::db::{Db, DbConfig, Freshness, seed::org_id};

use crate::setup::{in_recovery, services, setup};

/// The replica's backend is killed mid-read (57P01 or a dropped connection):
/// the read runs again on the primary, and the replica's breaker opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_read_is_retried_on_the_primary() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_killed", 1, 1).await;
    let app = r.api.app_sql.as_ref().unwrap();
    let metrics = app.replica_metrics().unwrap().clone();
    let before = metrics.fallbacks();
    let attempts = Arc::new(AtomicU32::new(0));
    let in_recovery = app
        .read(&org_id(1), Freshness::MayLag, |tx| {
            let (attempts, superuser) = (attempts.clone(), r.replica.clone());
            Box::pin(async move {
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                        .fetch_one(&mut **tx)
                        .await?;
                    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                        .bind(pid)
                        .fetch_one(&superuser)
                        .await
                        .expect("the superuser kills the app's replica backend");
                    assert!(killed);
                }
                sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut **tx)
                    .await
            })
        })
        .await
        .expect("answered by the primary");
    assert!(!in_recovery, "the second run is on the primary");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(metrics.fallbacks(), before + 1);
    assert!(!metrics.is_up(), "the breaker opened");
    r.stop().await;
}

/// A conflict with recovery (`40001`, which a standby raises when replay
/// must remove rows a query still reads) is retried once on the primary;
/// it says nothing about the replica's health, so the breaker stays closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_conflict_is_retried_on_the_primary() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_conflict", 1, 1).await;
    let app = r.api.app_sql.as_ref().unwrap();
    let metrics = app.replica_metrics().unwrap().clone();
    // 40P01: the standby's buffer-pin deadlock with the startup process.
    for code in ["40001", "40P01"] {
        let before = metrics.fallbacks();
        let attempts = Arc::new(AtomicU32::new(0));
        // Raised on the standby only, as a real recovery conflict would be.
        let in_recovery = app
            .read(&org_id(1), Freshness::MayLag, |tx| {
                let attempts = attempts.clone();
                Box::pin(async move {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    // `code` is one of the two literals above.
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DO $$ BEGIN IF pg_is_in_recovery() THEN \
                 RAISE EXCEPTION 'canceling statement due to conflict with recovery' \
                 USING ERRCODE = '{code}'; END IF; END $$"
                    )))
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
                        .fetch_one(&mut **tx)
                        .await
                })
            })
            .await
            .expect("answered by the primary");
        assert!(!in_recovery);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert_eq!(metrics.fallbacks(), before + 1);
        assert!(metrics.is_up(), "a conflict does not open the breaker");
    }
    // Any other error is the caller's: not retried.
    let attempts = Arc::new(AtomicU32::new(0));
    let err = app
        .read(&org_id(1), Freshness::MayLag, |tx| {
            let attempts = attempts.clone();
            Box::pin(async move {
                attempts.fetch_add(1, Ordering::SeqCst);
                sqlx::query("SELECT 1/0").execute(&mut **tx).await.map(drop)
            })
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|db| db.code()).as_deref(),
        Some("22012"),
        "{err}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    r.stop().await;
}

/// Every connection of the replica's pool is busy: the read waits its
/// `read_timeout`, is served by the primary, and the breaker stays closed
/// (load is not an outage; the next read tries the replica again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_replica_pool_falls_back_without_opening_the_breaker() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_busy", 1, 1).await;
    let pg = r.api.postgres.as_ref().unwrap();
    let mut config = DbConfig::from_url(&pg.app_url);
    config.read_url = Some(r.replica_app_url.clone());
    config.max_connections = 1;
    config.read_timeout = Duration::from_millis(100);
    let db = Db::connect(&config).await.expect("the app role");
    let metrics = db.replica_metrics().unwrap().clone();

    // The replica pool's one connection, held by a read, while another
    // read asks for one.
    let (first_on_replica, second_on_replica) = db
        .read(&org_id(1), Freshness::MayLag, |held| {
            let db = db.clone();
            Box::pin(async move {
                let on_replica: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut **held)
                    .await?;
                Ok((on_replica, in_recovery(&db).await?))
            })
        })
        .await
        .expect("answered");
    assert!(first_on_replica, "the first read is on the replica");
    assert!(
        !second_on_replica,
        "served by the primary while the replica pool is busy"
    );
    assert_eq!(metrics.fallbacks(), 1);
    assert!(metrics.is_up(), "a busy pool does not open the breaker");

    // Once the connection is free, reads are on the replica again.
    assert!(in_recovery(&db).await.unwrap(), "back on the replica");
    db.close().await;
    r.stop().await;
}
