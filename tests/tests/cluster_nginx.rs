//! The production shape on loopback (`scripts/cluster`: three demo replicas
//! behind nginx with TLS, Postgres with a streaming replica, Redis), driven
//! from outside as a client and an operator would:
//!
//! - the plan's load mix while one replica is killed (SIGKILL) and another
//!   restarted: the only failed requests are ones that were on the killed
//!   replica (nginx's log names the replica of every answer);
//! - a rolling restart of all three under the mix: no failed request;
//! - a global rate limit of 40 per address admits exactly 40 requests
//!   through nginx, whichever replica each lands on;
//! - reads are served by the Postgres replica: with its replay paused, a
//!   new row is on the primary and not in what the API lists.
//!
//! Traffic is bounded in count and time (30 users pacing themselves for a
//! few tens of seconds, on 127.0.0.1 only). One cluster per test, one test
//! at a time.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use rampart_tests::cluster::{AccessLine, Cluster};
use serde_json::{Value, json};
use tokio::{process::Command, sync::Mutex, task::JoinSet};

const BIN: &str = env!("CARGO_BIN_EXE_demo-server");
const LOADTEST: &str = env!("CARGO_BIN_EXE_loadtest");

/// One cluster at a time: each is seven processes and a load on two cores.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// A cheap argon2id hash of test123 for the seeded users: logins cost
/// nothing next to the requests measured.
const CHEAP_TEST123: &str =
    "$argon2id$v=19$m=8,t=1,p=1$cmFtcGFydGRlbW9zYWx0MQ$ENfb3BGdROTjCXiVE911WUEdwJg2iFp4vmBoRKM3lBI";

/// Simulated users of the load runs, each with its own account and address.
const USERS: u32 = 30;

/// How long a load run may take beyond its planned duration before the
/// test gives up on it (a loaded CI machine).
const LOAD_BOUND: Duration = Duration::from_secs(180);

fn load_cluster() -> Option<Cluster> {
    Cluster::up(
        BIN,
        &[
            ("SEED_PASSWORD_HASH", CHEAP_TEST123),
            ("CLUSTER_ORGS", "3"),
            ("CLUSTER_USERS_PER_ORG", "10"),
            ("RUST_LOG", "warn"),
        ],
    )
}

/// The plan's mix through nginx for `seconds` after a 2 s ramp, in the
/// background; each user pauses 0.3 to 0.8 s between tasks.
fn start_load(cluster: &Cluster, seconds: u32) -> tokio::process::Child {
    Command::new(LOADTEST)
        .args(["--host", cluster.env("CLUSTER_URL")])
        .args(["--ca-cert", cluster.env("CLUSTER_CA")])
        .args(["--users", &USERS.to_string(), "--ramp", "2"])
        .args(["--duration", &seconds.to_string(), "--wait", "0.3..0.8"])
        .args(["--timeout", "30", "--max-error-percent", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("loadtest runs")
}

/// The loadtest's output once it is done, and its `RESULT` figures.
async fn finish_load(load: tokio::process::Child) -> (String, Result) {
    let output = tokio::time::timeout(LOAD_BOUND, load.wait_with_output())
        .await
        .expect("the load run ends")
        .expect("loadtest's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result = Result::parse(&text).unwrap_or_else(|| panic!("no RESULT line:\n{text}"));
    (text, result)
}

/// `RESULT ... requests=N errors=N login_errors=N ...` of the loadtest.
#[derive(Debug)]
struct Result {
    requests: u64,
    errors: u64,
    login_errors: u64,
}

impl Result {
    fn parse(text: &str) -> Option<Self> {
        let line = text.lines().find(|line| line.starts_with("RESULT "))?;
        let field = |name: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(&format!("{name}=")))?
                .parse()
                .ok()
        };
        Some(Self {
            requests: field("requests")?,
            errors: field("errors")?,
            login_errors: field("login_errors")?,
        })
    }
}

/// The log's lines that are not a success: what a client saw fail.
fn failures(log: &[AccessLine]) -> Vec<&AccessLine> {
    log.iter().filter(|line| line.status >= 400).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_replica_loses_only_its_requests_in_flight() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = load_cluster() else {
        return;
    };
    let (killed, restarted) = (cluster.replica_addr(1), cluster.replica_addr(2));
    let load = start_load(&cluster, 16);
    // Past the ramp and the logins: the mix is running on all three.
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.run(&["kill", "1"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.run(&["restart", "2"]);
    cluster.run(&["start", "1"]);
    let (output, result) = finish_load(load).await;

    let log = cluster.access_log();
    let failed = failures(&log);
    println!(
        "{} requests through nginx (loadtest measured {}), {} failed: {:?}",
        log.len(),
        result.requests,
        failed.len(),
        failed
    );
    assert_eq!(result.login_errors, 0, "{output}");
    assert!(result.requests > 100, "too little load to tell: {output}");
    // The killed replica had served before it was killed.
    assert!(log.iter().any(|l| l.upstreams.contains(&killed)));
    for line in &failed {
        // nginx's 502 for a request the killed replica had taken and never
        // answered: a POST, which nginx does not send again (a GET it
        // sends to another replica, and the client sees a 200).
        assert_eq!(line.status, 502, "{line:?}\n{output}");
        assert_eq!(
            line.upstreams.last(),
            Some(&killed),
            "only requests on the killed replica may fail: {line:?}"
        );
        assert!(line.request.starts_with("POST "), "{line:?}");
    }
    // At most one request per user was in flight when it died.
    assert!(failed.len() <= USERS as usize, "{failed:?}");
    // The client saw the same failures nginx logged, no others (the
    // loadtest counts only its measured window).
    assert!(result.errors <= failed.len() as u64, "{output}");
    // The replica restarted gracefully failed nothing.
    assert!(
        !log.iter()
            .any(|l| l.status >= 500 && l.upstreams.last() == Some(&restarted)),
        "{failed:?}"
    );
    let status = cluster.run(&["status"]);
    assert_eq!(status.matches(" up\n").count(), 7, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_under_load_fails_nothing() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = load_cluster() else {
        return;
    };
    let before = cluster.run(&["status"]);
    let load = start_load(&cluster, 30);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let started = Instant::now();
    cluster.run(&["restart"]);
    let took = started.elapsed();
    let (output, result) = finish_load(load).await;

    let log = cluster.access_log();
    let failed = failures(&log);
    println!(
        "rolling restart took {took:?}; {} requests through nginx (loadtest measured {}), {} failed",
        log.len(),
        result.requests,
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}\n{output}");
    assert_eq!((result.errors, result.login_errors), (0, 0), "{output}");
    assert!(result.requests > 100, "too little load to tell: {output}");
    // Every replica is a new process, on its old port.
    let after = cluster.run(&["status"]);
    for n in 1..=3 {
        let line = |status: &str| {
            status
                .lines()
                .find(|l| l.starts_with(&format!("replica {n} ")))
                .map(str::to_owned)
                .expect("a status line per replica")
        };
        let (old, new) = (line(&before), line(&after));
        assert_ne!(old, new, "replica {n} was not restarted");
        assert_eq!(
            old.split_whitespace().nth(5),
            new.split_whitespace().nth(5),
            "same port"
        );
        assert!(new.ends_with(" up"), "{after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_is_exact_across_replicas_and_reads_use_the_replica() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::up(
        BIN,
        &[
            ("SEED_PASSWORD_HASH", CHEAP_TEST123),
            ("CLUSTER_ORGS", "1"),
            ("CLUSTER_USERS_PER_ORG", "2"),
            ("RATE_LIMIT_GLOBAL", "40/hour;burst=40"),
            ("RUST_LOG", "warn"),
            // The response cache reads a cached route's miss on the primary
            // (a lagging replica's view would be kept for the route's TTL),
            // so the replica check below runs with the cache off.
            ("CACHE_ENABLED", "false"),
        ],
    ) else {
        return;
    };
    let client = cluster.client();

    // 60 requests from one address, three at a time: nginx spreads them,
    // the count in Redis is one. A replica whose Redis call took longer
    // than the store's 50 ms decides by its own count meanwhile (by design:
    // the limit stays up, per replica): that happens on a starved machine,
    // and then the attempt proves nothing and is made again from another
    // address.
    let mut attempts = Vec::new();
    for attempt in 1..=3 {
        let before = fallbacks(&cluster, &client).await;
        let statuses = sixty_requests(&cluster, &client, &format!("10.250.0.{attempt}")).await;
        let fell_back = fallbacks(&cluster, &client).await - before;
        let admitted = statuses.iter().filter(|s| **s == 200).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        if fell_back == 0 {
            assert_eq!((admitted, limited), (40, 20), "{statuses:?}");
            break;
        }
        println!("attempt {attempt}: {fell_back} decisions without Redis; {statuses:?}");
        attempts.push(statuses);
        assert!(
            attempt < 3,
            "Redis missed the store's timeout in every attempt: {attempts:?}"
        );
    }
    let log = cluster.access_log();
    for n in 1..=3 {
        let addr = cluster.replica_addr(n);
        assert!(
            log.iter()
                .any(|l| l.request == "GET /" && l.status == 200 && l.upstreams == [addr.clone()]),
            "replica {n} admitted none: the quota was not shared across replicas"
        );
    }

    // Reads: a company created while the replica's replay is paused is on
    // the primary, and not in the list any replica serves.
    let login = client
        .post(cluster.url("/auth/login"))
        .header("x-forwarded-for", "10.250.0.2")
        .json(&json!({"email": "user1@example.com", "password": "test123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = login.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Each read from an address of its own: the global limit of 40 per
    // address stays out of the way of the polling below.
    let reads = std::sync::atomic::AtomicU32::new(0);
    let total = || async {
        let n = reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = client
            .get(cluster.url("/api/v1/companies"))
            .header(
                "x-forwarded-for",
                format!("10.251.{}.{}", n / 250, n % 250 + 1),
            )
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["total"]
            .as_u64()
            .unwrap()
    };
    let primary_count = || {
        cluster
            .run(&["psql", "primary", "-Atc", "SELECT count(*) FROM companies"])
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let before = total().await;
    assert_eq!(primary_count(), before);
    cluster.run(&["psql", "replica", "-c", "SELECT pg_wal_replay_pause()"]);
    let created = client
        .post(cluster.url("/api/v1/companies"))
        .header("x-forwarded-for", "10.250.0.2")
        .bearer_auth(&token)
        .json(&json!({"name": "Made during the pause", "domain": "pause.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(primary_count(), before + 1);
    // Three reads: least_conn with nothing in flight goes round the three.
    for _ in 0..3 {
        assert_eq!(total().await, before, "a list read came from the primary");
    }
    cluster.run(&["psql", "replica", "-c", "SELECT pg_wal_replay_resume()"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while total().await != before + 1 {
        assert!(Instant::now() < deadline, "the replica did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 60 `GET /` through nginx from `address`, three at a time; their statuses.
async fn sixty_requests(cluster: &Cluster, client: &reqwest::Client, address: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let mut round = JoinSet::new();
        for _ in 0..3 {
            let request = client
                .get(cluster.url("/"))
                .header("x-forwarded-for", address)
                .send();
            round.spawn(request);
        }
        while let Some(done) = round.join_next().await {
            statuses.push(done.unwrap().unwrap().status().as_u16());
        }
    }
    statuses
}

/// Rate-limit decisions made without Redis (`outcome` `fallback` or
/// `unavailable`) so far, over the three replicas' `/metrics` (read from
/// 127.0.0.1, which `METRICS_ALLOWED_IPS` allows).
async fn fallbacks(cluster: &Cluster, client: &reqwest::Client) -> u64 {
    let mut total = 0.0;
    for n in 1..=3 {
        let url = format!("{}/metrics", cluster.env(&format!("REPLICA_{n}_URL")));
        let text = client.get(url).send().await.unwrap().text().await.unwrap();
        total += text
            .lines()
            .filter(|line| line.starts_with("rampart_ratelimit_decisions_total{"))
            .filter(|line| {
                line.contains("outcome=\"fallback\"") || line.contains("outcome=\"unavailable\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    total as u64
}
