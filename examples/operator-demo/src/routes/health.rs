//! Liveness (`GET /health`) and readiness (`GET /ready`).
//!
//! `/health` answers as long as the process serves requests: a load balancer
//! or an orchestrator restarts the process when it stops answering. `/ready`
//! checks what a request needs (the data folder, the database, Redis when
//! configured) and answers 503 while one is missing, so traffic goes
//! elsewhere without a restart. The read replica is reported
//! (`database_replica`) but never makes the app unready: every instance
//! shares it, and reads fall back to the primary while it is down.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use rampart::core::Problem;
use serde_json::{Map, Value, json};

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
/// (`data_dir`, `database`, `redis`). A failing `database_replica` alone
/// answers `200 {"status":"degraded","checks":{...}}`: reads are served by
/// the primary meanwhile.
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
    let mut checks = Map::new();
    let mut all_ok = true;
    let mut degraded = false;

    let data_dir = check_data_dir(&state).await;
    all_ok &= data_dir.is_ok();
    checks.insert("data_dir".into(), outcome(data_dir));

    if let Some(db) = state.database() {
        let database = within(db.ping()).await;
        all_ok &= database.is_ok();
        checks.insert("database".into(), outcome(database));
        if let Some(replica) = within_opt(db.ping_replica()).await {
            degraded |= replica.is_err();
            checks.insert("database_replica".into(), outcome(replica));
        }
    }
    if let Some(redis) = state.redis() {
        let mut redis = redis.clone();
        let pong =
            within(async move { redis::cmd("PING").query_async::<String>(&mut redis).await }).await;
        all_ok &= pong.is_ok();
        checks.insert("redis".into(), outcome(pong));
    }

    if all_ok {
        (
            StatusCode::OK,
            Json(json!({
                "status": if degraded { "degraded" } else { "ready" },
                "checks": checks,
            })),
        )
            .into_response()
    } else {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_title("Not ready")
            .with_detail("one or more readiness checks failed")
            .with_extension("checks", Value::Object(checks))
            .into_response()
    }
}

/// A check's answer within two seconds: a hung dependency is a failed check,
/// not a hung probe.
async fn within<T, E: std::fmt::Display>(
    check: impl Future<Output = Result<T, E>>,
) -> Result<(), String> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), check).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("failing: {err}")),
        Err(_) => Err("no answer within 2 s".into()),
    }
}

/// [`within`] for a check that may not apply (`None`: not configured).
async fn within_opt<E: std::fmt::Display>(
    check: impl Future<Output = Option<Result<(), E>>>,
) -> Option<Result<(), String>> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), check).await {
        Ok(None) => None,
        Ok(Some(Ok(()))) => Some(Ok(())),
        Ok(Some(Err(err))) => Some(Err(format!("failing: {err}"))),
        Err(_) => Some(Err("no answer within 2 s".into())),
    }
}

fn outcome(result: Result<(), String>) -> Value {
    match result {
        Ok(()) => Value::from("ok"),
        Err(reason) => Value::from(reason),
    }
}

/// The data folder exists and a file can be written in it now (a full disk or
/// a read-only remount shows here).
async fn check_data_dir(state: &AppState) -> Result<(), String> {
    let probe = state.data_dir().join(".ready-probe");
    tokio::fs::write(&probe, b"ok")
        .await
        .map_err(|err| format!("not writable: {}", err.kind()))?;
    // A probe left behind by a failed removal is overwritten next time.
    let _ = tokio::fs::remove_file(&probe).await;
    Ok(())
}
