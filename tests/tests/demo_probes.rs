//! The probe and metrics endpoints of operator-demo, the real program:
//! `/metrics` must be guarded in production, `/health` and `/ready` have a
//! rate limit of their own, and `/ready` shares one run of its checks
//! among concurrent callers and names checks without their errors; on
//! SIGTERM the demo drains (`/ready` 503 at once, running requests finish).

mod demo_api_common;

// Each client's requests come from a /64 of its own (through the trusted
// proxy 127.0.0.1): with a shared Redis, other tests and runs count elsewhere.
use demo_api_common::{BIN, CHEAP_TEST123, client as client_from_own_address, postgres};
use operator_demo::db::{Db, DbConfig};
use rampart_tests::{Demo, RedisServer, database_url, redis_url, run_to_exit};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

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

/// `/ready` of a demo whose Redis may be down: status and body.
async fn ready_body(demo: &Demo, client: &reqwest::Client) -> (u16, Value) {
    let response = client.get(demo.url("/ready")).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// How long a test waits for the demo to notice Redis stopped or back: far
/// above what it takes, reached only when the demo misbehaves.
const REDIS_BOUND: Duration = Duration::from_secs(60);

/// Redis stopped mid-run (its own redis-server, killed and started again on
/// the same port): the rate limits and the cache fall back to memory, so
/// `/ready` stays 200 with `"status":"degraded"` and `"redis"` not `ok`
/// while requests are served, then `ready` again once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_stays_200_degraded_while_redis_is_down() {
    if redis_url().is_none() {
        return;
    }
    let Some(mut redis) = RedisServer::start().await else {
        assert!(
            !rampart_tests::services_required(),
            "redis-server is not installed"
        );
        return;
    };
    let url = redis.url();
    let demo = Demo::start(
        BIN,
        &[
            ("REDIS_URL", url.as_str()),
            ("RATE_LIMIT_PROBES", "1000000/minute"),
        ],
    )
    .await;
    let client = demo.client();
    let (status, body) = ready_body(&demo, &client).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["redis"], "ok", "{body}");

    redis.stop();
    let deadline = Instant::now() + REDIS_BOUND;
    loop {
        let (status, body) = ready_body(&demo, &client).await;
        assert_eq!(status, 200, "Redis down must not make /ready fail: {body}");
        if body["checks"]["redis"] != "ok" {
            assert_eq!(body["status"], "degraded", "{body}");
            assert!(
                ["failing", "timeout"].contains(&body["checks"]["redis"].as_str().unwrap_or("")),
                "{body}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "/ready never noticed: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Served meanwhile: the global rate limit counts in memory.
    for _ in 0..3 {
        let response = client.get(demo.url("/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }

    redis.restart().await;
    let deadline = Instant::now() + REDIS_BOUND;
    loop {
        let (status, body) = ready_body(&demo, &client).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "ready" {
            assert_eq!(body["checks"]["redis"], "ok", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "Redis back, /ready still {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(demo);
}

/// Connections of the app's role to its database.
async fn connections(admin: &Db, role: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
        .bind(role)
        .fetch_one(admin.primary())
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
            .execute(admin.primary())
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
        .execute(admin.primary())
        .await
        .expect("the database back");
    admin.close().await;
    api.stop().await;
}

/// How long the drain test waits for what should take a moment: far above
/// it on a loaded CI machine, and only reached when the demo misbehaves.
const DRAIN_BOUND: Duration = Duration::from_secs(30);

/// A login sent on a raw connection whose body is held back, so that it is a
/// request in flight for as long as the test wants.
const SLOW_LOGIN_BODY: &str = r#"{"email":"user1@example.com","password":"test123"}"#;

/// SIGTERM: `/ready` answers 503 at once (during `SHUTDOWN_DRAIN_SECS`),
/// a login in flight since before the signal completes with 200 after the
/// port has closed, new connections are refused, and the process exits 0.
#[tokio::test]
async fn sigterm_drains_ready_503_running_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().unwrap();
    let (status, stderr) = run_to_exit(
        BIN,
        &["seed", "--orgs", "1", "--users-per-org", "1"],
        &[
            ("DATA_DIR", data_dir),
            ("SEED_PASSWORD_HASH", CHEAP_TEST123),
        ],
    );
    assert!(status.success(), "seed: {stderr}");
    let mut demo = Demo::start(
        BIN,
        &[
            ("DATA_DIR", data_dir),
            ("SHUTDOWN_DRAIN_SECS", "3"),
            ("SHUTDOWN_GRACE_SECS", "30"),
        ],
    )
    .await;
    let client = demo.client();
    assert_eq!(
        client
            .get(demo.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The login's head and half its body: the handler waits for the rest.
    let mut slow = TcpStream::connect(demo.addr()).await.unwrap();
    let (first, rest) = SLOW_LOGIN_BODY.split_at(10);
    let head = format!(
        "POST /auth/login HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{first}",
        SLOW_LOGIN_BODY.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    // Let the server read the head and call the app.
    tokio::time::sleep(Duration::from_millis(300)).await;

    demo.terminate().unwrap();
    // /ready: 503 from the signal on, while the port is still open.
    let deadline = Instant::now() + DRAIN_BOUND;
    let draining = loop {
        let response = client.get(demo.url("/ready")).send().await;
        match response {
            Ok(response) if response.status() == 503 => break response,
            Ok(response) => assert_eq!(response.status(), 200, "before the signal lands"),
            Err(err) => panic!(
                "/ready unreachable during the drain: {err}\n{}",
                demo.stderr()
            ),
        }
        assert!(Instant::now() < deadline, "/ready still 200 after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        draining.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "responses during the drain close their connection"
    );
    let body: Value = draining.json().await.unwrap();
    assert_eq!(body["checks"]["shutdown"], "draining", "{body}");

    // After the drain the port closes: new connections are refused.
    let deadline = Instant::now() + DRAIN_BOUND;
    while TcpStream::connect(demo.addr()).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections {DRAIN_BOUND:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        demo.wait_timeout(Duration::ZERO).await.unwrap().is_none(),
        "the process must wait for the request in flight"
    );

    // The request in flight finishes, and is answered.
    slow.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(DRAIN_BOUND, slow.read_to_end(&mut answer))
        .await
        .expect("the login is answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("access_token"), "{answer}");

    let status = demo
        .wait_timeout(DRAIN_BOUND)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("still running after its last request\n{}", demo.stderr()));
    assert!(status.success(), "{status}\n{}", demo.stderr());
}
