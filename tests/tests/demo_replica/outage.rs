//! The replica down, row-level security on the replica, and the start-up
//! checks of `DATABASE_READ_URL`.

use std::time::Instant;

use operator_demo::db::{Freshness, seed::org_id};
use rampart_tests::{Demo, database_replica_ctl, run_to_exit, with_host_of};
use reqwest::Method;
use serde_json::json;

use crate::{
    demo_api_common::{API, Api, BIN, GLOBAL, PROXY},
    setup::{
        ReplicaOutage, Replicated, assert_degraded, client, eventually_listed, id, ids,
        in_recovery, pool, services, setup,
    },
};

/// The replica down: reads fall back to the primary in the same request
/// (a row written during the outage is listed at once, which only the
/// primary can do), `/ready` stays 200 and reports `database_replica`
/// failing, `/metrics` counts the fallbacks and shows `db_replica_up 0`;
/// once the replica is back, the breaker's probe sends reads to it again
/// (with its replay paused, a new row is not listed), all without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_down_reads_fall_back_to_the_primary_then_return() {
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
    let body = ready.ok(200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["database_replica"], "ok");
    assert_eq!(metric(api, "db_replica_up").await, 1.0);
    let fallbacks_before = metric(api, "db_replica_fallback_total").await;
    // Db::read of what may lag reads the replica...
    let app = api.app_sql.as_ref().unwrap();
    assert!(
        in_recovery(app).await.unwrap(),
        "a read that may lag is on the replica"
    );

    let outage = ReplicaOutage::begin(&ctl);
    let started = Instant::now();

    // A write, then at once a read that must see it: only the primary can
    // answer that (the replica is down).
    let company = api
        .post(
            "/api/v1/companies",
            &agent,
            &json!({"name": "During the outage"}),
        )
        .await;
    let company_id = id(&company, 201);
    let first_read = Instant::now();
    let list = api.get("/api/v1/companies?limit=100", &agent).await;
    println!(
        "the first read after the replica stopped took {:?}",
        first_read.elapsed()
    );
    assert!(
        ids(list.ok(200)).contains(&company_id),
        "the row written during the outage is listed at once: {}",
        list.text
    );
    // Every read route answers, the tenant layer's and the login's reads too.
    for path in [
        "/api/v1/companies",
        "/api/v1/campaigns",
        "/campaigns",
        "/api/v1/sessions",
        "/auth/me",
    ] {
        api.get(path, &agent).await.ok(200);
    }
    let fresh = api.login(2).await;
    api.get("/auth/me", &fresh).await.ok(200);
    println!("reads during the outage took {:?}", started.elapsed());
    // ... and falls back to the primary too.
    assert!(
        !in_recovery(app).await.unwrap(),
        "a read that may lag fell back to the primary"
    );

    // Ready: the primary and Redis are up; the replica is reported down.
    assert_degraded(api).await;
    assert!(metric(api, "db_replica_fallback_total").await > fallbacks_before);
    assert_eq!(metric(api, "db_replica_up").await, 0.0);
    api.send(Method::GET, "/health", None, None).await.ok(200);

    outage.end();
    r.caught_up().await;
    let ready = api.send(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.ok(200)["status"], "ready", "{}", ready.text);
    let unseen_id = back_on_the_replica(&r, api, &agent).await;
    r.resume().await;
    eventually_listed(api, &agent, "/api/v1/companies?limit=100", &unseen_id, true).await;
    // Each switch is logged once, not once per read.
    let log = std::fs::read_to_string(api.demo.stderr_path()).unwrap();
    assert_eq!(log.matches("database replica failing").count(), 1, "{log}");
    assert_eq!(
        log.matches("database replica answered the probe").count(),
        1,
        "{log}"
    );
    r.stop().await;
}

/// A demo started while its replica is down starts (it used to refuse),
/// serves reads from the primary with the right rows (each counted in
/// `db_replica_fallback_total`), reports the replica in `/ready` without
/// failing it, and reads from the replica once it is back: with replay
/// paused, a new row stops being listed, and reads stop counting fallbacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_starts_while_its_replica_is_down() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let Some(ctl) = database_replica_ctl() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_down_at_start", 1, 2).await;
    let pg = r.api.postgres.as_ref().unwrap();
    let outage = ReplicaOutage::begin(&ctl);
    let demo = Demo::start(
        BIN,
        &[
            GLOBAL,
            API,
            PROXY,
            ("DATABASE_URL", &pg.app_url),
            ("DATABASE_READ_URL", &r.replica_app_url),
            ("CACHE_ENABLED", "false"),
        ],
    )
    .await;
    let api = Api {
        demo,
        client: client(),
        admin_sql: r.api.admin_sql.clone(),
        app_sql: None,
        users_per_org: 2,
        postgres: None,
    };
    let agent = api.agent_of(1).await;
    let companies = api.get("/api/v1/companies", &agent).await;
    let body = companies.ok(200);
    assert_eq!(body["total"], 1, "{}", companies.text);
    assert_eq!(body["items"][0]["name"], "Company of organization 1");
    api.get("/auth/me", &agent).await.ok(200);

    assert_degraded(&api).await;
    assert!(metric(&api, "db_replica_fallback_total").await >= 1.0);
    assert_eq!(metric(&api, "db_replica_up").await, 0.0);

    outage.end();
    r.caught_up().await;
    back_on_the_replica(&r, &api, &agent).await;
    let fallbacks = metric(&api, "db_replica_fallback_total").await;
    for _ in 0..3 {
        let list = api.get("/api/v1/companies?limit=100", &agent).await;
        assert_eq!(
            list.ok(200)["total"],
            1,
            "the replica's view: {}",
            list.text
        );
    }
    assert_eq!(
        metric(&api, "db_replica_fallback_total").await,
        fallbacks,
        "reads on the replica count no fallback"
    );
    let ready = api.send(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.ok(200)["status"], "ready", "{}", ready.text);
    r.resume().await;
    drop(api);
    r.stop().await;
}

/// `DATABASE_READ_URL=` (empty, as in an env file) counts as unset: the demo
/// starts, reads from the primary, and `/ready` has no replica check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_read_url_counts_as_unset() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_empty", 1, 1).await;
    let pg = r.api.postgres.as_ref().unwrap();
    let demo = Demo::start(
        BIN,
        &[("DATABASE_URL", &pg.app_url), ("DATABASE_READ_URL", "")],
    )
    .await;
    let client = demo.client();
    let ready = client.get(demo.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert!(body["checks"].get("database_replica").is_none(), "{body}");
    let metrics = client.get(demo.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(!metrics.contains("db_replica_up"), "{metrics}");
    drop(demo);
    r.stop().await;
}

/// Pauses replay and writes a company, which only the primary then has:
/// once the breaker's probe has found the replica back, lists stop showing
/// it and `db_replica_up` is 1. The company's id.
async fn back_on_the_replica(r: &Replicated, api: &Api, agent: &str) -> String {
    r.pause().await;
    let unseen = api
        .post("/api/v1/companies", agent, &json!({"name": "After"}))
        .await;
    let unseen_id = id(&unseen, 201);
    let path = "/api/v1/companies?limit=100";
    eventually_listed(api, agent, path, &unseen_id, false).await;
    assert_eq!(metric(api, "db_replica_up").await, 1.0);
    unseen_id
}

/// The value of an unlabelled series in `/metrics`.
async fn metric(api: &Api, name: &str) -> f64 {
    let reply = api.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
        .text
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", reply.text))
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
    assert!(
        in_recovery(app).await.unwrap(),
        "Db::read is on the replica"
    );
    // The app role's URL, used directly.
    let direct = pool(&r.replica_app_url).await;
    let (one, two) = (org_id(1), org_id(2));

    for table in ["organizations", "users", "companies", "campaigns"] {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        let outside: i64 = sqlx::query_scalar(sql).fetch_one(&direct).await.unwrap();
        assert_eq!(outside, 0, "{table} without a tenant");
        // Tenant 1, asking for tenant 2's rows by name: none.
        let sql = format!(
            "SELECT COUNT(*) FROM {table} WHERE {} = $1",
            if table == "organizations" {
                "id"
            } else {
                "organization_id"
            }
        );
        let (theirs, mine): (i64, i64) = app
            .read(&one, Freshness::MayLag, |tx| {
                let (sql, one, two) = (sql.clone(), one.clone(), two.clone());
                Box::pin(async move {
                    let theirs = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(two)
                        .fetch_one(&mut **tx)
                        .await?;
                    let mine = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(one)
                        .fetch_one(&mut **tx)
                        .await?;
                    Ok((theirs, mine))
                })
            })
            .await
            .unwrap();
        assert_eq!(theirs, 0, "{table}: tenant 2's rows seen by tenant 1");
        assert!(mine >= 1, "{table} of tenant 1");
    }
    // The superuser on the replica sees both organizations' rows.
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM companies")
        .fetch_one(&r.replica)
        .await
        .unwrap();
    assert_eq!(all, 2);

    // The app role's URL, used directly: a write is refused by the standby.
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
/// primary's (row-level security would not apply to the reads). A replica
/// that answers nothing does not stop start-up:
/// `a_demo_starts_while_its_replica_is_down`.
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
    // The message names the replica's variable, not the primary's.
    assert!(stderr.contains("superuser"), "{stderr}");
    assert!(stderr.contains("invalid DATABASE_READ_URL"), "{stderr}");
    assert!(!stderr.contains("invalid DATABASE_URL"), "{stderr}");
    r.stop().await;
}
