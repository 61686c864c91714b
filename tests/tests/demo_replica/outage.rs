//! The replica down, row-level security on the replica, and the start-up
//! checks of `DATABASE_READ_URL`.

use std::time::{Duration, Instant};

use operator_demo::db::seed::org_id;
use rampart_tests::{database_replica_ctl, run_to_exit, with_host_of};
use reqwest::Method;
use serde_json::json;

use crate::{
    demo_api_common::BIN,
    setup::{REPLAY_TIMEOUT, ReplicaOutage, eventually_listed, id, pool, services, setup},
};

/// The replica down: `/ready` answers 503 naming the database check; reads
/// answer a 503 problem (never a 500) while writes go on on the primary;
/// once the replica is back, `/ready` and reads recover without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_down_is_503_for_reads_and_ready_then_recovers() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let Some(ctl) = database_replica_ctl() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_down", 1, 2).await;
    let api = &r.api;
    let agent = api.agent_of(1).await;
    api.get("/api/v1/companies", &agent).await.ok(200);
    let ready = api.send(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.ok(200)["checks"]["database"], "ok");

    let session = api
        .post(
            "/api/v1/sessions",
            &agent,
            &json!({"provider_type": "x", "telephony_provider": "simulated"}),
        )
        .await;
    let session_path = format!("/api/v1/sessions/{}", id(&session, 201));

    let outage = ReplicaOutage::begin(&ctl);

    // Writes go to the primary, which is up (the organization's row, which
    // the tenant layer reads from the replica, is in its cache for a minute:
    // write first, before the reads below spend their seconds).
    let company = api
        .post(
            "/api/v1/companies",
            &agent,
            &json!({"name": "During the outage"}),
        )
        .await;
    let company_id = id(&company, 201);
    // A session is read by id from the primary.
    api.get(&session_path, &agent).await.ok(200);

    let ready = api.send(Method::GET, "/ready", None, None).await;
    let body = ready.problem(503);
    assert!(
        body["checks"]["database"]
            .as_str()
            .is_some_and(|check| check != "ok"),
        "{}",
        ready.text
    );
    // Reads wait for a replica connection (the pool's 5 s acquire timeout),
    // then answer 503 problem+json.
    for path in [
        "/api/v1/companies",
        "/api/v1/campaigns",
        "/campaigns",
        "/api/v1/sessions",
        "/auth/me",
    ] {
        let reply = api.get(path, &agent).await;
        reply.problem(503);
        assert_eq!(reply.headers["retry-after"], "1", "{path}");
    }
    // Logging in reads the replica too.
    let login = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "user1@example.com", "password": "test123"})),
        )
        .await;
    login.problem(503);
    // Liveness is not readiness: the process still answers.
    api.send(Method::GET, "/health", None, None).await.ok(200);

    outage.end();
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    loop {
        let ready = api.send(Method::GET, "/ready", None, None).await;
        if ready.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "/ready still {}", ready.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually_listed(
        api,
        &agent,
        "/api/v1/companies?limit=100",
        &company_id,
        true,
    )
    .await;
    api.agent_of(1).await;
    r.stop().await;
}

/// Row-level security holds on the replica too: the app role there sees no
/// row without a tenant, only its own organization's with one, and cannot
/// write at all (the standby is read-only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_holds_on_the_replica() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_rls", 2, 2).await;
    let app = r.api.app_sql.as_ref().unwrap();
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(app.reader())
        .await
        .unwrap();
    assert!(in_recovery, "Db::reader() is the replica");
    let (one, two) = (org_id(1), org_id(2));

    for table in ["organizations", "users", "companies", "campaigns"] {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        let outside: i64 = sqlx::query_scalar(sql)
            .fetch_one(app.reader())
            .await
            .unwrap();
        assert_eq!(outside, 0, "{table} without a tenant");
        // Tenant 1, asking for tenant 2's rows by name: none.
        let mut tx = app.read_tx(&one).await.unwrap();
        let sql = format!(
            "SELECT COUNT(*) FROM {table} WHERE {} = $1",
            if table == "organizations" {
                "id"
            } else {
                "organization_id"
            }
        );
        let theirs: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .bind(&two)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(theirs, 0, "{table}: tenant 2's rows seen by tenant 1");
        let mine: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(&one)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert!(mine >= 1, "{table} of tenant 1");
        tx.commit().await.unwrap();
    }
    // The superuser on the replica sees both organizations' rows.
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM companies")
        .fetch_one(&r.replica)
        .await
        .unwrap();
    assert_eq!(all, 2);

    // The app role's URL, used directly: a write is refused by the standby.
    let direct = pool(&r.replica_app_url).await;
    let refused = sqlx::query("UPDATE companies SET name = 'x'")
        .execute(&direct)
        .await
        .expect_err("a standby takes no writes");
    let code = refused
        .as_database_error()
        .and_then(|err| err.code())
        .map(|code| code.into_owned());
    assert_eq!(
        code.as_deref(),
        Some("25006"),
        "read_only_sql_transaction: {refused}"
    );
    direct.close().await;
    r.stop().await;
}

/// A replica URL with a privileged role is refused at start-up like the
/// primary's (row-level security would not apply to the reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_replica_role_stops_start_up() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_role", 1, 1).await;
    let pg = r.api.postgres.as_ref().unwrap();
    let replica_owner = with_host_of(&pg.owner_url, &replica_url);
    let (status, stderr) = run_to_exit(
        BIN,
        &[],
        &[
            ("DATABASE_URL", &pg.app_url),
            ("DATABASE_READ_URL", &replica_owner),
            ("BIND_ADDR", "127.0.0.1:0"),
        ],
    );
    assert!(!status.success());
    // (The message names DATABASE_URL for the replica's role too.)
    assert!(stderr.contains("superuser"), "{stderr}");
    // A replica URL that answers nothing names DATABASE_READ_URL.
    let nowhere = format!(
        "postgres://nobody@127.0.0.1:{}/nothing",
        rampart_tests::free_port()
    );
    let (status, stderr) = run_to_exit(
        BIN,
        &[],
        &[
            ("DATABASE_URL", &pg.app_url),
            ("DATABASE_READ_URL", &nowhere),
            ("BIND_ADDR", "127.0.0.1:0"),
        ],
    );
    assert!(!status.success());
    assert!(stderr.contains("DATABASE_READ_URL"), "{stderr}");
    r.stop().await;
}
