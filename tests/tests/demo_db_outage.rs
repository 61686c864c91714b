//! The operator-demo through a database outage, on the real Postgres of the
//! test run with a loopback proxy between the two that the test cuts
//! (every connection closed, new ones refused: what a stopped server looks
//! like) and restores.
//!
//! - The primary: once the outage is known, every request answers 503
//!   problem+json with `Retry-After` at once, instead of each waiting the
//!   pool's 5 s acquire timeout; a probe in the background closes the
//!   breaker when Postgres answers; nothing written before is lost.
//! - The replica's breaker (rampart-core's): a half-open probe cancelled
//!   mid-flight lets the next read probe.

#[path = "demo_api_common/mod.rs"]
mod demo_api_common;

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use demo_api_common::{API, BIN, GLOBAL, PROXY, postgres};
use operator_demo::db::{Db, DbConfig, Freshness};
use rampart_tests::{Demo, database_url, proxy::TcpProxy};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// One answer a worker got.
#[derive(Debug, Clone)]
struct Answer {
    sent: Instant,
    took: Duration,
    status: StatusCode,
    retry_after: bool,
    problem: bool,
    /// The company a `POST` created (on 201).
    created: Option<String>,
}

/// A steady stream: `workers` clients, each alternating a list read and a
/// company write, 20 ms apart, until `stop`.
fn stream(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    workers: usize,
    stop: &Arc<AtomicBool>,
    answers: &Arc<Mutex<Vec<Answer>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|worker| {
            let (client, base, token) = (client.clone(), base.to_owned(), token.to_owned());
            let (stop, answers) = (Arc::clone(stop), Arc::clone(answers));
            tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let name = format!("outage-w{worker}-{n}");
                    let request = if n % 2 == 0 {
                        client
                            .request(Method::POST, format!("{base}/api/v1/companies"))
                            .json(&json!({"name": name, "domain": "outage.example"}))
                    } else {
                        client.request(Method::GET, format!("{base}/api/v1/companies?limit=5"))
                    };
                    let sent = Instant::now();
                    let response = request.bearer_auth(&token).send().await.expect("an answer");
                    let took = sent.elapsed();
                    let status = response.status();
                    let headers = response.headers().clone();
                    // The body read as part of the answer.
                    let _ = response.bytes().await;
                    answers.lock().unwrap().push(Answer {
                        sent,
                        took,
                        status,
                        retry_after: headers.contains_key("retry-after"),
                        problem: headers
                            .get("content-type")
                            .is_some_and(|v| v == "application/problem+json"),
                        created: (status == StatusCode::CREATED).then_some(name),
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect()
}

/// `db_primary_up` on the demo's `/metrics`.
async fn primary_up(client: &reqwest::Client, demo: &Demo) -> Option<bool> {
    let text = client
        .get(demo.url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let line = text.lines().find(|l| l.starts_with("db_primary_up "))?;
    Some(line.ends_with(" 1"))
}

/// Polls `/metrics` until `db_primary_up` is `up`; when it was.
async fn until_primary_up(
    client: &reqwest::Client,
    demo: &Demo,
    up: bool,
    within: Duration,
) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        if primary_up(client, demo).await == Some(up) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "db_primary_up never became {} within {within:?}",
            u8::from(up)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_at_once_and_recovers() {
    let Some(url) = database_url() else { return };
    let mut api = postgres(&url, "outage", &[], 1, 3).await;
    let app_url = api.postgres.as_ref().unwrap().app_url.clone();
    let (proxy, proxied) = TcpProxy::in_front_of(&app_url).await;
    // The same demo, its database through the proxy; without the response
    // cache, which would keep answering the stream's reads from Redis.
    api.demo = Demo::start(
        BIN,
        &[
            GLOBAL,
            API,
            PROXY,
            ("DATABASE_URL", &proxied),
            ("CACHE_ENABLED", "false"),
        ],
    )
    .await;
    let token = api.agent_of(1).await;
    let mut before = Vec::new();
    for i in 0..10 {
        let reply = api
            .post(
                "/api/v1/companies",
                &token,
                &json!({"name": format!("before-{i}"), "domain": "before.example"}),
            )
            .await;
        reply.ok(201);
        before.push(format!("before-{i}"));
    }
    let metrics = api.demo.client();
    assert_eq!(primary_up(&metrics, &api.demo).await, Some(true));

    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let workers = stream(&api.client, &api.url(""), &token, 4, &stop, &answers);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Postgres goes away.
    let cut = Instant::now();
    proxy.cut().await;
    let open = until_primary_up(&metrics, &api.demo, false, Duration::from_secs(30)).await;
    println!("breaker open {:?} after the cut", open - cut);
    // /ready says so, at once.
    let started = Instant::now();
    let ready = api.send(Method::GET, "/ready", None, None).await;
    let ready_took = started.elapsed();
    ready.problem(503);
    assert!(ready.text.contains("database"), "{}", ready.text);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Postgres is back.
    let back = Instant::now();
    proxy.pass().await;
    let up = until_primary_up(&metrics, &api.demo, true, Duration::from_secs(30)).await;
    let recovered = loop {
        let recovered = answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.sent >= back && a.status.is_success())
            .map(|a| a.sent + a.took)
            .min();
        if let Some(at) = recovered {
            break at;
        }
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "no success after Postgres came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let answers = answers.lock().unwrap().clone();

    // While the breaker is open: 503 problem+json with Retry-After, at once.
    let outage: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent >= open && a.sent + a.took < back)
        .collect();
    assert!(
        outage.len() >= 20,
        "a steady stream: {} answers",
        outage.len()
    );
    for answer in &outage {
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
        assert!(answer.retry_after && answer.problem, "{answer:?}");
    }
    let times: Vec<Duration> = outage.iter().map(|a| a.took).collect();
    let slowest = times.iter().max().copied().unwrap();
    let typical = median(times);
    println!(
        "outage: {} answers while open, median {typical:?}, slowest {slowest:?}; /ready {ready_took:?}",
        outage.len()
    );
    assert!(typical < Duration::from_secs(1), "median {typical:?}");
    // Before the breaker, each waited the pool's 5 s acquire timeout.
    assert!(slowest < Duration::from_secs(4), "slowest {slowest:?}");
    assert!(
        ready_took < Duration::from_secs(1),
        "/ready took {ready_took:?}"
    );

    // Back within seconds, and then every request is served.
    println!(
        "recovery: db_primary_up 1 {:?} and the first success {:?} after Postgres came back",
        up - back,
        recovered.saturating_duration_since(back)
    );
    assert!(recovered.saturating_duration_since(back) < Duration::from_secs(10));
    let after: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent > recovered + Duration::from_millis(200))
        .collect();
    assert!(!after.is_empty());
    for answer in &after {
        assert!(answer.status.is_success(), "{answer:?}");
    }

    // Nothing written is lost: the rows from before the outage, and every
    // write that was answered 201.
    let names: HashSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT name FROM companies WHERE name LIKE 'before-%' OR name LIKE 'outage-%'",
    )
    .fetch_all(api.admin_sql.primary())
    .await
    .unwrap()
    .into_iter()
    .collect();
    for name in before
        .iter()
        .chain(answers.iter().filter_map(|a| a.created.as_ref()))
    {
        assert!(names.contains(name), "{name} is missing");
    }
    drop(proxy);
    api.stop().await;
}

/// One read that may lag (so, on the replica when its breaker lets it).
async fn read_once(db: &Db) -> Result<(), sqlx::Error> {
    let org = operator_demo::db::new_id();
    db.read(&org, Freshness::MayLag, |tx| {
        Box::pin(async move { sqlx::query("SELECT 1").execute(&mut **tx).await.map(drop) })
    })
    .await
}

/// The replica's half-open probe is cancelled while the replica hangs (the
/// request was dropped): the next read probes the replica again at once and
/// the breaker closes; before, the dropped probe counted as a failure and
/// reads stayed on the primary for another cool-down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_replica_probe_lets_the_next_read_probe() {
    let Some(url) = database_url() else { return };
    let (proxy, proxied) = TcpProxy::in_front_of(&url).await;
    let mut config = DbConfig::from_url(&url);
    config.read_url = Some(proxied);
    config.read_timeout = Duration::from_millis(300);
    config.replica_cooldown = Duration::from_secs(2);
    let db = Db::connect(&config).await.unwrap();
    let replica = db.replica_metrics().unwrap().clone();
    read_once(&db).await.unwrap();
    assert!(replica.is_up());

    // The replica hangs: the read falls back to the primary, the breaker opens.
    proxy.stall().await;
    read_once(&db).await.unwrap();
    assert!(!replica.is_up());

    // After the cool-down the next read is the probe; it is cancelled.
    tokio::time::sleep(config.replica_cooldown + Duration::from_millis(200)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), read_once(&db))
            .await
            .is_err(),
        "the probe was waiting for the replica"
    );

    // The replica answers again: the very next read probes it.
    proxy.pass().await;
    read_once(&db).await.unwrap();
    assert!(
        replica.is_up(),
        "the next read was the probe, and it closed the breaker"
    );
    db.close().await;
}
