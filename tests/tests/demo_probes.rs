//! The probe and metrics endpoints of operator-demo, the real program:
//! `/metrics` must be guarded in production, `/health` and `/ready` have a
//! rate limit of their own, and `/ready` shares one run of its checks
//! among concurrent callers and names checks without their errors.

mod demo_api_common;

// Each client's requests come from a /64 of its own (through the trusted
// proxy 127.0.0.1): with a shared Redis, other tests and runs count elsewhere.
use demo_api_common::{BIN, client as client_from_own_address, postgres};
use operator_demo::db::{Db, DbConfig};
use rampart_tests::{Demo, database_url, run_to_exit};
use serde_json::Value;

/// ENVIRONMENT=production with no METRICS_* guard: the demo refuses to
/// start, naming the variables; with one it starts and /metrics answers
/// the allowed address.
#[tokio::test]
async fn production_needs_a_metrics_guard() {
    let (status, stderr) = run_to_exit(
        BIN,
        &[],
        &[
            ("ENVIRONMENT", "production"),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("METRICS_ALLOWED_IPS", ""),
            ("METRICS_BASIC_AUTH_USER", ""),
            ("METRICS_BASIC_AUTH_PASSWORD", ""),
        ],
    );
    assert!(!status.success());
    assert_eq!(status.code(), Some(1), "{stderr}");
    for name in [
        "METRICS_ALLOWED_IPS",
        "METRICS_BASIC_AUTH_USER",
        "METRICS_BASIC_AUTH_PASSWORD",
    ] {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }

    let demo = Demo::start(
        BIN,
        &[
            ("ENVIRONMENT", "production"),
            ("METRICS_ALLOWED_IPS", "127.0.0.1"),
        ],
    )
    .await;
    let metrics = demo
        .client()
        .get(demo.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
}

/// RATE_LIMIT_PROBES=3/minute: the fourth probe from one address is a 429
/// problem+json (/health and /ready count together), while the users' limit
/// (RATE_LIMIT_GLOBAL) neither counts the probes nor stops them.
#[tokio::test]
async fn probes_have_a_limit_of_their_own() {
    let demo = Demo::start(
        BIN,
        &[
            ("RATE_LIMIT_PROBES", "3/minute"),
            ("RATE_LIMIT_GLOBAL", "2/minute"),
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    )
    .await;
    let client = client_from_own_address();
    let get = |path: &'static str| client.get(demo.url(path)).send();

    for _ in 0..2 {
        assert_eq!(get("/").await.unwrap().status(), 200);
    }
    assert_eq!(get("/").await.unwrap().status(), 429, "the global limit");
    for path in ["/ready", "/health", "/ready"] {
        assert_eq!(get(path).await.unwrap().status(), 200, "{path}");
    }
    for path in ["/ready", "/health"] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), 429, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 429);
    }
    // Another address has probes of its own.
    let other = client_from_own_address();
    let response = other.get(demo.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// Connections of the app's role to its database.
async fn connections(admin: &Db, role: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
        .bind(role)
        .fetch_one(admin.writer())
        .await
        .expect("pg_stat_activity")
}

/// A flood of /ready is answered, every probe `ok`, by one database
/// connection (not one each: the pool does not grow); with the database
/// refusing the app, /ready is a 503 that names the check `failing`, and
/// the database's error is in the log, not in the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_under_a_flood_and_with_the_database_down() {
    let Some(url) = database_url() else { return };
    let api = postgres(
        &url,
        "ready",
        &[
            ("RATE_LIMIT_PROBES", "1000000/minute"),
            ("DATABASE_MAX_CONNECTIONS", "16"),
        ],
        1,
        1,
    )
    .await;
    let pg = api.postgres.as_ref().expect("a Postgres demo");
    let role = format!("{}_app", pg.name);
    let admin = Db::connect(&DbConfig::from_url(&pg.superuser_url))
        .await
        .expect("the test Postgres");

    let ready = api.client.get(api.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let before = connections(&admin, &role).await;

    let flood: Vec<_> = (0..300)
        .map(|_| {
            let request = api.client.get(api.url("/ready")).send();
            tokio::spawn(async move {
                let response = request.await.expect("an answer");
                let status = response.status();
                let body: Value = response.json().await.expect("JSON");
                (status, body)
            })
        })
        .collect();
    for probe in flood {
        let (status, body) = probe.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["checks"]["database"], "ok", "{body}");
    }
    let after = connections(&admin, &role).await;
    assert!(
        after <= before + 1,
        "the flood opened {} connections ({before} before, {after} after)",
        after - before
    );

    // The database refuses the app's role from now on.
    for sql in [
        format!("REVOKE CONNECT ON DATABASE {} FROM PUBLIC", pg.name),
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(admin.writer())
            .await
            .expect("taking the database away");
    }
    let ready = api.client.get(api.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_ne!(body["checks"]["database"], "ok", "{text}");
    for (name, state) in body["checks"].as_object().expect("checks") {
        assert!(
            ["ok", "failing", "timeout"].contains(&state.as_str().unwrap_or_default()),
            "{name}: {text}"
        );
    }
    for secret in [
        "permission",
        "denied",
        "terminat",
        "connection",
        &pg.name,
        &role,
    ] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
    let log = api.demo.stderr();
    assert!(
        log.contains("readiness check failed") && log.contains("database"),
        "{log}"
    );

    let sql = format!("GRANT CONNECT ON DATABASE {} TO PUBLIC", pg.name);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(admin.writer())
        .await
        .expect("the database back");
    admin.close().await;
    api.stop().await;
}
