//! The daily backup inside the server, and the two series that say how old
//! the last good backup is.
//!
//! One replica at a time: on Postgres the run holds a session advisory lock
//! (released by Postgres when the holder's connection dies, so a crash frees
//! it). The other replicas wait for it, then find that slot's backup in the
//! store and skip; if the holder failed, the next one backs up instead. On
//! SQLite there is one process.
//!
//! The series come from the server reading the store (not from a textfile
//! the command writes): every replica lists `BACKUP_URL` at start-up, every
//! five minutes and after each run, so a backup taken by cron or by hand
//! shows too. Both are 0 until the store holds a complete backup.

use std::{sync::atomic::AtomicI64, time::Duration};

use prometheus_client::{metrics::gauge::Gauge, registry::Registry};

use super::Backups;
use crate::jobs::{JobLock, Wait};

/// How often the series are refreshed from the store between runs.
const REFRESH: Duration = Duration::from_secs(300);

/// The advisory lock key of the scheduled backup ("backup" in ASCII).
const LOCK_KEY: i64 = 0x6261_636b_7570;

/// How long a replica waits for another one's backup.
const LOCK_WAIT: Duration = Duration::from_secs(2 * 3600);

/// When the server backs up: `HH:MM` or `HH:MM:SS` UTC daily, or `off`.
///
/// ```
/// use operator_demo::backup::Schedule;
///
/// let daily: Schedule = "02:00".parse().unwrap();
/// // 2026-12-05 01:00 UTC: next at 02:00 the same day.
/// assert_eq!(daily.next_after(1_796_432_400), Some(1_796_436_000));
/// assert_eq!("off".parse::<Schedule>().unwrap().next_after(0), None);
/// assert!("25:00".parse::<Schedule>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule(Option<u32>);

impl std::str::FromStr for Schedule {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if matches!(value, "off" | "disabled" | "none") {
            return Ok(Self(None));
        }
        let bad = || format!("expected HH:MM or HH:MM:SS (UTC) or off, got {value:?}");
        let parts: Vec<&str> = value.split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
            return Err(bad());
        }
        let numbers: Vec<u32> = parts
            .iter()
            .map(|p| p.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let (h, m, s) = (numbers[0], numbers[1], numbers.get(2).copied().unwrap_or(0));
        if h > 23 || m > 59 || s > 59 {
            return Err(bad());
        }
        Ok(Self(Some(h * 3600 + m * 60 + s)))
    }
}

impl Schedule {
    /// The first run strictly after `now` (Unix seconds); `None` when off.
    pub fn next_after(self, now: i64) -> Option<i64> {
        let offset = i64::from(self.0?);
        let day = now.div_euclid(86_400) * 86_400;
        let today = day + offset;
        Some(if today > now { today } else { today + 86_400 })
    }
}

/// `backup_last_success_timestamp_seconds` and `backup_size_bytes`.
#[derive(Debug, Clone, Default)]
pub struct BackupMetrics {
    last_success: Gauge<i64, AtomicI64>,
    size: Gauge<i64, AtomicI64>,
}

impl BackupMetrics {
    /// Adds the two series to `registry` (both 0 until a backup is seen).
    ///
    /// ```
    /// use operator_demo::backup::BackupMetrics;
    /// use prometheus_client::{encoding::text::encode, registry::Registry};
    ///
    /// let mut registry = Registry::default();
    /// BackupMetrics::default().register(&mut registry);
    /// let mut text = String::new();
    /// encode(&mut text, &registry).unwrap();
    /// assert!(text.contains("backup_last_success_timestamp_seconds 0"));
    /// assert!(text.contains("backup_size_bytes 0"));
    /// ```
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When the newest complete backup in BACKUP_URL was taken (Unix seconds; 0: none)",
            self.last_success.clone(),
        );
        registry.register(
            "backup_size_bytes",
            "The size of the newest complete backup in BACKUP_URL (0: none)",
            self.size.clone(),
        );
    }

    async fn refresh(&self, backups: &Backups) {
        match backups.newest().await {
            Ok(Some(newest)) => {
                self.last_success.set(newest.name.time);
                self.size
                    .set(i64::try_from(newest.size).unwrap_or(i64::MAX));
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, "cannot read BACKUP_URL for the backup series")
            }
        }
    }
}

/// Keeps `metrics` current and, unless `schedule` is off, backs up and
/// prunes once a day in the background.
pub fn spawn_scheduler(backups: Backups, schedule: Schedule, metrics: BackupMetrics) {
    tokio::spawn(async move {
        loop {
            metrics.refresh(&backups).await;
            let now = crate::db::now();
            let wait = schedule
                .next_after(now)
                .map(|next| (next, u64::try_from(next - now).unwrap_or(0)));
            match wait {
                Some((next, secs)) if secs <= REFRESH.as_secs() => {
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                    run_once(&backups, next).await;
                }
                _ => tokio::time::sleep(REFRESH).await,
            }
        }
    });
}

/// The run of the slot at `slot` (Unix seconds), unless another replica
/// holds the lock or has already stored this slot's backup.
async fn run_once(backups: &Backups, slot: i64) {
    let lock = match backups.postgres_url() {
        // Waits for a replica that is backing up, so that it then sees that
        // replica's backup (and exports its time) or, if that run failed,
        // takes over.
        Some(url) => match JobLock::postgres(url, LOCK_KEY, Wait::Up(LOCK_WAIT)).await {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                tracing::warn!("scheduled backup skipped: another replica held the lock for 2 h");
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, "scheduled backup failed: cannot take the lock");
                return;
            }
        },
        None => None,
    };
    match backups.newest().await {
        Ok(Some(newest)) if newest.name.time >= slot => {
            tracing::info!(backup = %newest.name, "scheduled backup skipped: this slot's backup is stored");
        }
        Ok(_) => match backups.create().await {
            Ok(manifest) => {
                tracing::info!(backup = %manifest.name, size = manifest.size(), "scheduled backup stored");
                match backups.prune(crate::db::now(), false).await {
                    Ok(deleted) => {
                        for backup in deleted {
                            tracing::info!(backup = %backup.name, "pruned");
                        }
                    }
                    Err(err) => tracing::error!(error = %err, "pruning the backups failed"),
                }
            }
            Err(err) => {
                tracing::error!(error = %err, exit_code = err.exit_code(), "scheduled backup failed")
            }
        },
        Err(err) => {
            tracing::error!(error = %err, "scheduled backup failed: cannot list BACKUP_URL")
        }
    }
    if let Some(lock) = lock {
        lock.release().await;
    }
}
