//! Liveness (`GET /health`) and readiness (`GET /ready`).
//!
//! `/health` answers as long as the process serves requests: a load balancer
//! or an orchestrator restarts the process when it stops answering. `/ready`
//! checks what a request cannot be served without (the data folder, the
//! primary database) and answers 503 while one is missing, so traffic goes
//! elsewhere without a restart. What has a fallback is reported but never
//! makes the app unready, only `degraded`: the read replica
//! (`database_replica`: reads go to the primary) and Redis (`redis`: the
//! rate limits count in memory, the cache passes requests on). Every
//! replica shares them, so a 503 for their outage would take every replica
//! out of the balancer at once while each could serve.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use rampart::core::Problem;
use serde_json::{Map, Value, json};
use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tokio::sync::watch;

use crate::app::AppState;

/// `GET /health`: `200 {"status":"ok"}`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::response::IntoResponse;
///
/// let response = operator_demo::routes::health::health().await.into_response();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: `200 {"status":"ready","checks":{...}}` when every check
/// passes, else `503` problem+json whose `checks` member says which failed
/// (`data_dir`, `database`; `shutdown` once SIGTERM has started the drain,
/// see [`Drain`](crate::shutdown::Drain)). A failing `database_replica` or
/// `redis` alone answers `200 {"status":"degraded","checks":{...}}`: reads
/// are served by the primary, rate limits count in this process's memory
/// and the cache passes requests on meanwhile.
///
/// Each check is named with its state only (`ok`, `failing`, `timeout`):
/// why one fails goes to the log, never to whoever asks. Requests that
/// arrive while the checks run share that run ([`ReadyChecks`]), so a flood
/// of `/ready` costs one database connection, not one each.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::extract::State;
/// use operator_demo::{app::AppState, routes::health::ready};
///
/// let dir = tempfile::tempdir().unwrap();
/// let response = ready(State(AppState::new(dir.path()))).await;
/// assert_eq!(response.status(), 200);
/// # }
/// ```
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.drain().is_draining() {
        return draining();
    }
    let report = state.ready_checks().run(&state).await;
    report.response()
}

/// `/ready` once SIGTERM has started the drain: 503 at once, without
/// running the checks, whatever they would say.
fn draining() -> Response {
    let checks = json!({ "shutdown": "draining" });
    Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_title("Not ready")
        .with_detail("shutting down: running requests are finishing")
        .with_extension("checks", checks)
        .into_response()
}

/// One run of the readiness checks at a time: a request that arrives while
/// one runs waits for its report instead of starting another.
///
/// The run is a task of its own, so a request that gives up (a client gone,
/// a timeout) does not cancel it for the others; a guard clears the run
/// when the task ends, even by a panic.
#[derive(Debug, Default)]
pub struct ReadyChecks {
    running: Mutex<Option<watch::Receiver<Option<Arc<Report>>>>>,
}

impl ReadyChecks {
    async fn run(&self, state: &AppState) -> Arc<Report> {
        let mut report = {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(report) = &*running {
                report.clone()
            } else {
                let (publish, report) = watch::channel(None);
                *running = Some(report.clone());
                let state = state.clone();
                tokio::spawn(async move {
                    let finished = Finished(state.clone());
                    let report = Arc::new(Report::check(&state).await);
                    // Cleared first: a request from now on starts afresh.
                    drop(finished);
                    publish.send_replace(Some(report));
                });
                report
            }
        };
        match report.wait_for(Option::is_some).await {
            Ok(report) => report.clone().unwrap_or_else(Report::aborted),
            // The run ended without a report (it panicked: logged by the runtime).
            Err(_) => Report::aborted(),
        }
    }
}

/// Ends a run of the checks when dropped.
struct Finished(AppState);

impl Drop for Finished {
    fn drop(&mut self) {
        *self
            .0
            .ready_checks()
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// What a check found, as `/ready` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// It passed.
    Ok,
    /// It answered with an error (logged).
    Failing,
    /// It did not answer within two seconds.
    Timeout,
}

impl CheckState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failing => "failing",
            Self::Timeout => "timeout",
        }
    }
}

/// Whether a failing check makes the instance unready, or only degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weight {
    Required,
    Degrades,
}

/// The checks' states, by name, in the order they ran.
#[derive(Debug, Default)]
pub struct Report {
    checks: Vec<(&'static str, CheckState, Weight)>,
}

impl Report {
    /// Runs every check. A new one is a line here: `required` (503 when it
    /// fails) or `degrades` (200 `degraded`).
    async fn check(state: &AppState) -> Self {
        let mut report = Self::default();
        report.required("data_dir", within(check_data_dir(state)).await);
        if let Some(db) = state.database() {
            report.required("database", within(db.ping()).await);
            if let Some(replica) = within_opt(db.ping_replica()).await {
                report.degrades("database_replica", replica);
            }
        }
        if let Some(redis) = state.redis() {
            let mut redis = redis.clone();
            let pong =
                within(async move { redis::cmd("PING").query_async::<String>(&mut redis).await })
                    .await;
            // Every use of Redis falls back (rate limits: memory; cache:
            // uncached), so its outage degrades, never stops, this replica.
            report.degrades("redis", pong);
        }
        report
    }

    /// A report that no check could be run for.
    fn aborted() -> Arc<Self> {
        let mut report = Self::default();
        report.required(
            "checks",
            Err(Failure {
                state: CheckState::Failing,
                reason: "the run of the checks ended without a report".into(),
            }),
        );
        Arc::new(report)
    }

    fn required(&mut self, name: &'static str, result: Result<(), Failure>) {
        self.add(name, result, Weight::Required);
    }

    fn degrades(&mut self, name: &'static str, result: Result<(), Failure>) {
        self.add(name, result, Weight::Degrades);
    }

    /// Records the check's state; why it failed goes to the log only.
    fn add(&mut self, name: &'static str, result: Result<(), Failure>, weight: Weight) {
        let state = match result {
            Ok(()) => CheckState::Ok,
            Err(Failure { state, reason }) => {
                tracing::warn!(check = name, state = state.as_str(), %reason, "readiness check failed");
                state
            }
        };
        self.checks.push((name, state, weight));
    }

    fn response(&self) -> Response {
        let failed = |weight| {
            self.checks
                .iter()
                .any(|&(_, state, w)| w == weight && state != CheckState::Ok)
        };
        let checks: Map<String, Value> = self
            .checks
            .iter()
            .map(|&(name, state, _)| (name.to_owned(), Value::from(state.as_str())))
            .collect();
        if failed(Weight::Required) {
            return Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_title("Not ready")
                .with_detail("one or more readiness checks failed")
                .with_extension("checks", Value::Object(checks))
                .into_response();
        }
        let status = if failed(Weight::Degrades) {
            "degraded"
        } else {
            "ready"
        };
        (
            StatusCode::OK,
            Json(json!({ "status": status, "checks": checks })),
        )
            .into_response()
    }
}

/// A failed check: its state for the client, its reason for the log.
#[derive(Debug)]
struct Failure {
    state: CheckState,
    reason: String,
}

/// How long a check may take: a hung dependency is a failed check, not a
/// hung probe.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A check's answer within [`CHECK_TIMEOUT`].
async fn within<T, E: std::fmt::Display>(
    check: impl Future<Output = Result<T, E>>,
) -> Result<(), Failure> {
    within_opt(async { Some(check.await.map(drop)) })
        .await
        .unwrap_or(Ok(()))
}

/// [`within`] for a check that may not apply (`None`: not configured).
async fn within_opt<E: std::fmt::Display>(
    check: impl Future<Output = Option<Result<(), E>>>,
) -> Option<Result<(), Failure>> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(None) => None,
        Ok(Some(Ok(()))) => Some(Ok(())),
        Ok(Some(Err(err))) => Some(Err(Failure {
            state: CheckState::Failing,
            reason: err.to_string(),
        })),
        Err(_) => Some(Err(Failure {
            state: CheckState::Timeout,
            reason: format!("no answer within {CHECK_TIMEOUT:?}"),
        })),
    }
}

/// The data folder exists and a file can be written in it now (a full disk or
/// a read-only remount shows here).
async fn check_data_dir(state: &AppState) -> std::io::Result<()> {
    let probe = state.data_dir().join(".ready-probe");
    tokio::fs::write(&probe, b"ok").await?;
    // A probe left behind by a failed removal is overwritten next time.
    let _ = tokio::fs::remove_file(&probe).await;
    Ok(())
}
