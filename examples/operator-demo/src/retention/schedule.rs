//! The daily run inside the server, and its two series.
//!
//! One replica at a time, as the backup: on Postgres the run waits for the
//! retention lock (a session advisory lock, freed when its holder's
//! connection dies), then skips if the audit log shows a run of this slot
//! already (the other replica's); if that one failed, this one runs. On
//! SQLite, a file lock in `DATA_DIR` that is not waited for.

use std::{sync::atomic::AtomicI64, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{Outcome, Retention};
use crate::backup::Schedule;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

/// `retention_rows_total{action}` and
/// `retention_last_success_timestamp_seconds`.
#[derive(Debug, Clone, Default)]
pub struct RetentionMetrics {
    rows: Family<ActionLabel, Counter>,
    last_success: Gauge<i64, AtomicI64>,
}

/// The `action` labels, each exported from the start at 0.
pub const ACTIONS: [&str; 4] = [
    "session_deleted",
    "call_archived",
    "call_deleted",
    "disposition_anonymized",
];

impl RetentionMetrics {
    /// Adds the series to `registry`.
    ///
    /// ```
    /// use operator_demo::retention::RetentionMetrics;
    /// use prometheus_client::{encoding::text::encode, registry::Registry};
    ///
    /// let mut registry = Registry::default();
    /// RetentionMetrics::default().register(&mut registry);
    /// let mut text = String::new();
    /// encode(&mut text, &registry).unwrap();
    /// assert!(text.contains("retention_last_success_timestamp_seconds 0"));
    /// assert!(text.contains(r#"retention_rows_total{action="call_archived"} 0"#));
    /// ```
    pub fn register(&self, registry: &mut Registry) {
        for action in ACTIONS {
            let _ = self.rows.get_or_create(&ActionLabel { action });
        }
        registry.register(
            "retention_rows",
            "Rows the retention runs of this process deleted, archived or anonymized",
            self.rows.clone(),
        );
        registry.register(
            "retention_last_success_timestamp_seconds",
            "When a retention run last succeeded in every organization (Unix seconds; 0: never)",
            self.last_success.clone(),
        );
    }

    fn seen(&self, at: i64) {
        if at > self.last_success.get() {
            self.last_success.set(at);
        }
    }
}

/// Seeds the gauge from the audit log and, unless `schedule` is off, runs
/// retention once a day in the background.
pub fn spawn_scheduler(retention: Retention, schedule: Schedule, metrics: RetentionMetrics) {
    tokio::spawn(async move {
        // A restarted server does not claim "never": the last run is in the
        // audit log, whoever ran it (this replica, another, cron).
        match retention.last_success().await {
            Ok(at) => metrics.seen(at),
            Err(err) => tracing::warn!(error = %err, "cannot read the last retention run"),
        }
        loop {
            let now = crate::db::now();
            let Some(next) = schedule.next_after(now) else {
                return;
            };
            let secs = u64::try_from(next - now).unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            run_once(&retention, next, &metrics).await;
        }
    });
}

async fn run_once(retention: &Retention, slot: i64, metrics: &RetentionMetrics) {
    match retention.run_slot(slot).await {
        Ok(Outcome::Ran(report)) => {
            for (action, rows) in report.totals() {
                metrics
                    .rows
                    .get_or_create(&ActionLabel { action })
                    .inc_by(rows);
            }
            if report.failed() == 0 {
                metrics.seen(report.at);
                tracing::info!(organizations = report.orgs.len(), totals = ?report.totals(), "scheduled retention run done");
            } else {
                tracing::error!(
                    failed = report.failed(),
                    "retention run failed in some organizations"
                );
            }
        }
        Ok(Outcome::Skipped) => {
            tracing::info!("scheduled retention run skipped: another replica ran this slot");
            if let Ok(at) = retention.last_success().await {
                metrics.seen(at);
            }
        }
        Err(err) => tracing::error!(error = %err, "retention run failed"),
    }
}
