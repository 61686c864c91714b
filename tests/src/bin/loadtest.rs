//! `loadtest`: the plan's Locust mix against a running operator-demo, for
//! `scripts/bench mix` (a benchmark tool, never a timed test).
//!
//! Each simulated user N (1, 2, ...) logs in once as `userN@example.com`
//! from its own client address (`X-Forwarded-For: 10.x.y.z`, believed when
//! the demo runs with `TRUSTED_PROXIES=127.0.0.1/32`), so the per-address
//! and per-user limits see distinct clients, unlike the plan's Locust file,
//! which draws a random account out of 100 for each user. It then loops,
//! choosing at random with the plan's weights: `GET /campaigns` x3,
//! `GET /api/v1/companies` x2, `POST /api/v1/sessions` x1, `GET /health` x1.
//! Each session it starts is ended at once (`POST /api/v1/sessions/{id}/end`,
//! its own row in the table) unless `--keep-sessions`: the plan's file never
//! ends one, and its own `max_concurrent_calls` (10 per organization) would
//! then refuse every session after the tenth. `--reads-only` keeps the two
//! reads alone, with their weights (3 and 2 out of 5): what
//! `scripts/bench mix` counts database queries of with and without the cache.
//!
//! `--rate N` paces the users to N requests/s in all and times each
//! request from when it was due (wrk2's way): the latency a client sees at
//! that load, queueing included, rather than at whatever load the server
//! gives way under.
//!
//! Users start evenly over `--ramp`; the figures cover the `--duration`
//! that follows, once every user has logged in (logins are reported on their
//! own row). The exit status is 1 when more than `--max-error-percent` of
//! the measured requests fail (a non-2xx answer or no answer) or a login
//! fails, so that a broken run is visible.
//!
//! Written on tokio + reqwest rather than goose: goose 0.19 turns on
//! reqwest's `default-tls`, which is rustls on aws-lc-rs (a C build of an
//! OpenSSL-derived library), a second rustls crypto provider beside the
//! workspace's ring that would leave rustls without a process default
//! wherever features unify (`cargo test --workspace`), and a long build on a
//! 2-core machine; what we need of it (weighted tasks, per-user login,
//! percentiles) fits in this file.
//!
//! ```text
//! loadtest --host http://127.0.0.1:8000 --users 100 --duration 30 --ramp 10
//! ```

#![allow(
    clippy::print_stderr,
    reason = "a command-line tool: failed logins and the verdict go to standard error"
)]

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use rand::{Rng, SeedableRng, rngs::SmallRng};
use reqwest::{
    Client, Method,
    header::{AUTHORIZATION, HeaderValue},
};
use serde_json::{Value, json};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    about = "The plan's Locust mix against operator-demo"
)]
struct Args {
    /// The demo's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    host: String,
    /// Simulated users, each with its own account and client address.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    users: u32,
    /// Seconds measured after the ramp (`30`, `30s`, `2m`).
    #[arg(long, default_value = "30", value_parser = parse_duration)]
    duration: Duration,
    /// Seconds over which users start (`0`: all at once).
    #[arg(long, default_value = "10", value_parser = parse_duration)]
    ramp: Duration,
    /// Pause between a user's tasks, `MIN..MAX` seconds (the plan's file
    /// waits `1..3`); `0`: none, each user sends its next request at once.
    #[arg(long, default_value = "0", value_parser = parse_wait)]
    wait: (f64, f64),
    /// The account number of the first user (`userN@example.com`).
    #[arg(long, default_value_t = 1)]
    first_user: u32,
    /// The seeded users' password.
    #[arg(long, default_value = "test123")]
    password: String,
    /// Leave every session active, as the plan's file does.
    #[arg(long)]
    keep_sessions: bool,
    /// Only the mix's reads, with their weights: `GET /campaigns` x3 and
    /// `GET /api/v1/companies` x2 (what a response cache serves).
    #[arg(long)]
    reads_only: bool,
    /// Send this many requests per second in all, paced: each user sends
    /// one every `users / rate` seconds, and a request's latency counts from
    /// when it was due, not from when it went out (as wrk2 does), so that a
    /// server that falls behind shows in the percentiles instead of slowing
    /// the load down. A session's end follows its start at once and takes
    /// the next slot. Without it each user sends as fast as it is answered.
    #[arg(long, conflicts_with = "wait", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rate: Option<u32>,
    /// Fail (exit status 1) above this percentage of failed requests.
    #[arg(long, default_value_t = 1.0)]
    max_error_percent: f64,
    /// A PEM file of a CA certificate to trust for an `https://` host (e.g.
    /// the throwaway one of `scripts/cluster`: `$CLUSTER_DIR/tls/ca.pem`).
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<std::path::PathBuf>,
    /// Seconds before a request without an answer counts as failed.
    #[arg(long, default_value = "10", value_parser = parse_duration)]
    timeout: Duration,
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (number, unit) = match value.strip_suffix('m') {
        Some(minutes) => (minutes, 60.0),
        None => (value.strip_suffix('s').unwrap_or(value), 1.0),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && (0.0..=86_400.0).contains(&(n * unit)) => {
            Ok(Duration::from_secs_f64(n * unit))
        }
        _ => Err(format!(
            "expected seconds (`30`, `30s`) or minutes (`2m`), got {value:?}"
        )),
    }
}

fn parse_wait(value: &str) -> Result<(f64, f64), String> {
    let bad = || format!("expected `MIN..MAX` seconds (`1..3`) or one number, got {value:?}");
    let secs = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && (0.0..=3600.0).contains(n))
    };
    let (min, max) = if let Some((min, max)) = value.split_once("..") {
        (secs(min).ok_or_else(bad)?, secs(max).ok_or_else(bad)?)
    } else {
        let n = secs(value).ok_or_else(bad)?;
        (n, n)
    };
    if min > max {
        return Err(bad());
    }
    Ok((min, max))
}

/// What a user does; the index into the table of figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Login,
    Campaigns,
    Companies,
    Session,
    EndSession,
    Health,
}

impl Task {
    const ALL: [Self; 6] = [
        Self::Login,
        Self::Campaigns,
        Self::Companies,
        Self::Session,
        Self::EndSession,
        Self::Health,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Login => "POST /auth/login",
            Self::Campaigns => "GET /campaigns",
            Self::Companies => "GET /api/v1/companies",
            Self::Session => "POST /api/v1/sessions",
            Self::EndSession => "POST /api/v1/sessions/{id}/end",
            Self::Health => "GET /health",
        }
    }

    /// The plan's weights: 3, 2, 1, 1 out of 7; the first two alone
    /// (3 and 2 out of 5) for `--reads-only`.
    fn pick(rng: &mut SmallRng, reads_only: bool) -> Self {
        match rng.random_range(0..if reads_only { 5 } else { 7u8 }) {
            0..=2 => Self::Campaigns,
            3..=4 => Self::Companies,
            5 => Self::Session,
            _ => Self::Health,
        }
    }
}

/// One request: what, when it started, how long until its body was read,
/// and its status (0: no answer).
#[derive(Debug, Clone, Copy)]
struct Sample {
    task: Task,
    started: Instant,
    micros: u32,
    status: u16,
}

impl Sample {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The same answer, timed from `due` (the request's slot under
    /// `--rate`): the time it waited for its slot's user counts.
    fn counted_from(self, due: Instant) -> Self {
        let late = u32::try_from(self.started.saturating_duration_since(due).as_micros())
            .unwrap_or(u32::MAX);
        Self {
            started: due.min(self.started),
            micros: self.micros.saturating_add(late),
            ..self
        }
    }
}

/// What the users share: the options, how many have tried to log in, and
/// whether to stop.
#[derive(Debug)]
struct Shared {
    args: Args,
    /// `--ca-cert`, read once.
    ca: Option<reqwest::Certificate>,
    logged_in: AtomicUsize,
    /// Login attempts answered 503 and tried again.
    login_retries: AtomicUsize,
    stop: AtomicBool,
}

/// Sends one request and reads its answer; the sample and the JSON body
/// when it was a 2xx with one.
async fn send(
    client: &Client,
    shared: &Shared,
    task: Task,
    method: Method,
    path: &str,
    token: Option<&HeaderValue>,
    body: Option<&Value>,
) -> (Sample, Option<Value>) {
    let mut request = client.request(method, format!("{}{path}", shared.args.host));
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, token.clone());
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let started = Instant::now();
    let (status, bytes) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(bytes) => (status, Some(bytes)),
                Err(_) => (0, None),
            }
        }
        Err(_) => (0, None),
    };
    let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
    let sample = Sample {
        task,
        started,
        micros,
        status,
    };
    let json = bytes
        .filter(|_| sample.ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    (sample, json)
}

/// One simulated user: logs in once, then runs the mix until told to stop.
async fn user(shared: Arc<Shared>, index: u32, start_at: Instant) -> Vec<Sample> {
    tokio::time::sleep_until(start_at.into()).await;
    let args = &shared.args;
    let n = args.first_user.saturating_add(index);
    let mut samples = Vec::with_capacity(1024);
    let address = format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_str(&address).expect("an IPv4 address is a header value"),
    );
    let mut builder = Client::builder()
        .no_proxy()
        .timeout(args.timeout)
        .default_headers(headers)
        .pool_max_idle_per_host(1);
    if let Some(ca) = &shared.ca {
        builder = builder.tls_certs_only([ca.clone()]);
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(err) => {
            eprintln!("user {n}: no HTTP client: {err}");
            shared.logged_in.fetch_add(1, Ordering::SeqCst);
            return samples;
        }
    };
    let login = json!({"email": format!("user{n}@example.com"), "password": args.password});
    // The demo answers a login 503 with `Retry-After: 1` while every
    // password-hashing permit stays taken (logins of the ramp on a busy
    // machine); a client tries again, and so does this one, 5 times at most.
    let mut attempts = 1;
    let (sample, body) = loop {
        let (sample, body) = send(
            &client,
            &shared,
            Task::Login,
            Method::POST,
            "/auth/login",
            None,
            Some(&login),
        )
        .await;
        if sample.status != 503 || attempts == 5 {
            break (sample, body);
        }
        attempts += 1;
        shared.login_retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    samples.push(sample);
    shared.logged_in.fetch_add(1, Ordering::SeqCst);
    let token = body
        .as_ref()
        .and_then(|body| body.get("access_token"))
        .and_then(Value::as_str)
        .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok());
    let Some(token) = token else {
        eprintln!(
            "user {n}: login as user{n}@example.com failed (status {})",
            sample.status
        );
        return samples;
    };
    let session_body = json!({"provider_type": "twilio", "telephony_provider": "twilio"});
    let mut rng = SmallRng::seed_from_u64(u64::from(n));
    let (wait_min, wait_max) = args.wait;
    // `--rate`: this user's share, its first slot at a random point of the
    // first interval so that the users do not send in step.
    let interval = args
        .rate
        .map(|rate| Duration::from_secs_f64(f64::from(args.users) / f64::from(rate)));
    let mut due = interval.map(|interval| Instant::now() + interval.mul_f64(rng.random::<f64>()));
    while !shared.stop.load(Ordering::Relaxed) {
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let task = Task::pick(&mut rng, args.reads_only);
        let (sample, body) = match task {
            Task::Campaigns => {
                send(
                    &client,
                    &shared,
                    task,
                    Method::GET,
                    "/campaigns",
                    Some(&token),
                    None,
                )
                .await
            }
            Task::Companies => {
                let path = "/api/v1/companies";
                send(
                    &client,
                    &shared,
                    task,
                    Method::GET,
                    path,
                    Some(&token),
                    None,
                )
                .await
            }
            Task::Session => {
                let path = "/api/v1/sessions";
                let body = Some(&session_body);
                send(
                    &client,
                    &shared,
                    task,
                    Method::POST,
                    path,
                    Some(&token),
                    body,
                )
                .await
            }
            _ => {
                send(
                    &client,
                    &shared,
                    Task::Health,
                    Method::GET,
                    "/health",
                    None,
                    None,
                )
                .await
            }
        };
        samples.push(due.map_or(sample, |due| sample.counted_from(due)));
        if task == Task::Session && !args.keep_sessions {
            if let Some(id) = body
                .as_ref()
                .and_then(|b| b.get("id"))
                .and_then(Value::as_str)
            {
                let path = format!("/api/v1/sessions/{id}/end");
                let end = Task::EndSession;
                let (sample, _) = send(
                    &client,
                    &shared,
                    end,
                    Method::POST,
                    &path,
                    Some(&token),
                    None,
                )
                .await;
                samples.push(sample);
                // The end took a slot of its own.
                due = due.zip(interval).map(|(due, interval)| due + interval);
            }
        }
        due = due.zip(interval).map(|(due, interval)| due + interval);
        if wait_max > 0.0 {
            let secs = if wait_max > wait_min {
                rng.random_range(wait_min..wait_max)
            } else {
                wait_min
            };
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
    }
    samples
}

/// Latency figures of a set of samples, in milliseconds.
#[derive(Debug, Default)]
struct Figures {
    requests: usize,
    errors: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
    statuses: BTreeMap<u16, usize>,
}

impl Figures {
    fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Self {
        let mut figures = Self::default();
        let mut micros = Vec::new();
        for sample in samples {
            micros.push(sample.micros);
            if !sample.ok() {
                figures.errors += 1;
                *figures.statuses.entry(sample.status).or_default() += 1;
            }
        }
        micros.sort_unstable();
        figures.requests = micros.len();
        // Nearest rank: the smallest value with at least q of the samples at or below it.
        let rank = |q: f64| {
            if micros.is_empty() {
                return 0.0;
            }
            let at = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            f64::from(micros[at - 1]) / 1000.0
        };
        (figures.p50, figures.p95, figures.p99, figures.max) =
            (rank(0.50), rank(0.95), rank(0.99), rank(1.0));
        figures
    }

    fn error_percent(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        100.0 * self.errors as f64 / self.requests as f64
    }

    fn statuses(&self) -> String {
        let parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| match status {
                0 => format!("no answer x{count}"),
                _ => format!("{status} x{count}"),
            })
            .collect();
        parts.join(", ")
    }

    /// One line of the table; `secs`: the window the requests/s are over
    /// (none for logins, which happen before it).
    fn row(&self, label: &str, secs: Option<f64>) {
        let rate = secs.map_or_else(
            || "-".to_owned(),
            |secs| format!("{:.1}", self.requests as f64 / secs),
        );
        println!(
            "{label:<32} {:>9} {:>8} {rate:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}",
            self.requests,
            self.errors,
            self.p50,
            self.p95,
            self.p99,
            self.max,
            self.statuses()
        );
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // reqwest comes with `rustls-no-provider` in this workspace: a client
    // needs a provider even for plain HTTP.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let users = args.users;
    let (ramp, duration) = (args.ramp, args.duration);
    println!(
        "loadtest: {} with {users} users (user{}..user{}@example.com, each from its own \
         X-Forwarded-For 10.x.y.z), ramp {:.0} s, measured {:.0} s, wait {}, {}",
        args.host,
        args.first_user,
        u64::from(args.first_user) + u64::from(users) - 1,
        ramp.as_secs_f64(),
        duration.as_secs_f64(),
        match (args.rate, args.wait) {
            (Some(rate), _) => format!("none, paced at {rate} requests/s in all"),
            (None, (_, max)) if max <= 0.0 => "none".to_owned(),
            (None, (min, max)) => format!("{min}..{max} s"),
        },
        if args.reads_only {
            "reads only (GET /campaigns x3, GET /api/v1/companies x2)"
        } else if args.keep_sessions {
            "sessions left active"
        } else {
            "sessions ended right after each start"
        },
    );
    let ca = match &args.ca_cert {
        None => None,
        Some(path) => match std::fs::read(path)
            .map_err(|err| err.to_string())
            .and_then(|pem| reqwest::Certificate::from_pem(&pem).map_err(|err| err.to_string()))
        {
            Ok(cert) => Some(cert),
            Err(err) => {
                eprintln!("loadtest: --ca-cert {}: {err}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let shared = Arc::new(Shared {
        args,
        ca,
        logged_in: AtomicUsize::new(0),
        login_retries: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let begin = Instant::now();
    let step = ramp / users;
    let handles: Vec<_> = (0..users)
        .map(|i| tokio::spawn(user(Arc::clone(&shared), i, begin + step * i)))
        .collect();

    // The window opens once the ramp is over and every user has logged in
    // (or failed to), so that argon2 at login and the warm-up stay out of it.
    let logged_in_by = begin + ramp + Duration::from_secs(120);
    tokio::time::sleep_until((begin + ramp).into()).await;
    while shared.logged_in.load(Ordering::SeqCst) < users as usize && Instant::now() < logged_in_by
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let window_start = Instant::now();
    tokio::time::sleep(duration).await;
    let window_end = Instant::now();
    shared.stop.store(true, Ordering::SeqCst);

    let mut samples = Vec::new();
    for handle in handles {
        match handle.await {
            Ok(mut user_samples) => samples.append(&mut user_samples),
            Err(err) => eprintln!("a user task failed: {err}"),
        }
    }
    let secs = (window_end - window_start).as_secs_f64();
    let measured =
        |s: &&Sample| s.task != Task::Login && s.started >= window_start && s.started < window_end;
    let warm_up = samples
        .iter()
        .filter(|s| s.task != Task::Login && s.started < window_start)
        .count();

    println!(
        "\n{:<32} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}  errors by status",
        "endpoint", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let logins = Figures::of(samples.iter().filter(|s| s.task == Task::Login));
    logins.row("POST /auth/login (before)", None);
    for task in Task::ALL.into_iter().filter(|t| *t != Task::Login) {
        let figures = Figures::of(samples.iter().filter(measured).filter(|s| s.task == task));
        if figures.requests > 0 || task != Task::EndSession {
            figures.row(task.label(), Some(secs));
        }
    }
    let total = Figures::of(samples.iter().filter(measured));
    total.row("all (measured)", Some(secs));
    let rps = total.requests as f64 / secs;
    println!(
        "\nrequests/s {rps:.1}; latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms; \
         errors {} of {} ({:.3}%); {warm_up} requests before the window not counted; \
         {} login(s) retried after a 503",
        total.p50,
        total.p95,
        total.p99,
        total.errors,
        total.requests,
        total.error_percent(),
        shared.login_retries.load(Ordering::Relaxed)
    );
    // One line for scripts/bench to read.
    println!(
        "RESULT rps={rps:.1} p50_ms={:.2} p95_ms={:.2} p99_ms={:.2} error_pct={:.3} \
         requests={} errors={} login_errors={} users={users} seconds={secs:.1}",
        total.p50,
        total.p95,
        total.p99,
        total.error_percent(),
        total.requests,
        total.errors,
        logins.errors
    );
    let max = shared.args.max_error_percent;
    if logins.errors > 0 || total.requests == 0 || total.error_percent() > max {
        eprintln!(
            "loadtest: FAILED: {} login(s) failed, {:.3}% of {} requests failed (at most {max}% allowed)",
            logins.errors,
            total.error_percent(),
            total.requests
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
