//! `RETENTION_*` and `ARCHIVE_URL`: the periods, the batch size, where the
//! archives go, the daily run's time, and the `retention` command line. The
//! runs themselves are [`crate::retention`].

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::{backup::Schedule, config::DatabaseArgs, storage::Storage};

/// The periods and the batch size: `RETENTION_*`, and `ARCHIVE_URL`.
#[derive(Debug, Clone, Args)]
pub struct RetentionSettings {
    /// Days after their end before call sessions are deleted.
    #[arg(
        long = "retention-sessions-days",
        env = "RETENTION_SESSIONS_DAYS",
        value_name = "RETENTION_SESSIONS_DAYS",
        default_value_t = 90,
        value_parser = clap::value_parser!(u32).range(1..=36_500)
    )]
    pub sessions_days: u32,

    /// Days after their start before calls are archived and deleted.
    #[arg(
        long = "retention-calls-days",
        env = "RETENTION_CALLS_DAYS",
        value_name = "RETENTION_CALLS_DAYS",
        default_value_t = 365,
        value_parser = clap::value_parser!(u32).range(1..=36_500)
    )]
    pub calls_days: u32,

    /// Days after their last change before dispositions are anonymized.
    #[arg(
        long = "retention-dispositions-days",
        env = "RETENTION_DISPOSITIONS_DAYS",
        value_name = "RETENTION_DISPOSITIONS_DAYS",
        default_value_t = 730,
        value_parser = clap::value_parser!(u32).range(1..=36_500)
    )]
    pub dispositions_days: u32,

    /// Rows per statement and per transaction.
    #[arg(
        long = "retention-batch-size",
        env = "RETENTION_BATCH_SIZE",
        value_name = "RETENTION_BATCH_SIZE",
        default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub batch_size: u32,

    /// Where the archives go: `file:///path` or `s3://bucket/prefix`
    /// (default `file://DATA_DIR/archive`).
    #[arg(long = "archive-url", env = "ARCHIVE_URL", value_name = "ARCHIVE_URL")]
    pub archive_url: Option<String>,
}

/// Options of `retention`.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: RetentionAction,
}

/// What `retention` does.
#[derive(Debug, Clone, Subcommand)]
pub enum RetentionAction {
    /// Archive, delete and anonymize what the policy says is due.
    Run(RunArgs),
}

/// Options of `retention run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Count what is due, change nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Treat this time (Unix seconds) as now. For tests.
    #[arg(long = "now", hide = true, allow_negative_numbers = true)]
    pub now: Option<i64>,

    /// Folder of the embedded default's SQLite file and of the archive.
    #[arg(
        long = "data-dir",
        env = "DATA_DIR",
        value_name = "DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,

    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The periods and `ARCHIVE_URL`.
    #[command(flatten)]
    pub settings: RetentionSettings,
}

/// The cut-offs of one run, Unix seconds: rows older than these are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Sessions that ended before this.
    pub sessions: i64,
    /// Calls that started before this.
    pub calls: i64,
    /// Dispositions last changed before this.
    pub dispositions: i64,
}

impl RetentionSettings {
    /// The cut-offs at `now`.
    ///
    /// ```
    /// use clap::Parser;
    /// use operator_demo::retention::RetentionSettings;
    ///
    /// #[derive(Parser)]
    /// struct Cli {
    ///     #[command(flatten)]
    ///     settings: RetentionSettings,
    /// }
    /// let cli = Cli::parse_from(["x", "--retention-sessions-days", "1"]);
    /// let cut = cli.settings.cutoffs(10 * 86_400);
    /// assert_eq!(cut.sessions, 9 * 86_400);
    /// assert_eq!(cut.calls, 10 * 86_400 - 365 * 86_400);
    /// assert!(Cli::try_parse_from(["x", "--retention-calls-days", "0"]).is_err());
    /// ```
    pub fn cutoffs(&self, now: i64) -> Cutoffs {
        let days = |d: u32| now - i64::from(d) * 86_400;
        Cutoffs {
            sessions: days(self.sessions_days),
            calls: days(self.calls_days),
            dispositions: days(self.dispositions_days),
        }
    }

    /// The store `ARCHIVE_URL` names (default `file://DATA_DIR/archive`).
    ///
    /// # Errors
    ///
    /// A message for `ARCHIVE_URL`.
    pub fn storage(&self, data_dir: &Path) -> Result<Storage, String> {
        let url = if let Some(url) = self
            .archive_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            url.to_owned()
        } else {
            let dir = std::path::absolute(data_dir).map_err(|err| err.to_string())?;
            format!("file://{}", dir.join("archive").display())
        };
        Storage::from_url(&url).map_err(|err| err.to_string())
    }
}

/// The server's retention settings: `RETENTION_SCHEDULE` and the rest.
#[derive(Debug, Clone, Args)]
pub struct RetentionScheduleArgs {
    /// Daily retention run, `HH:MM` or `HH:MM:SS` UTC, or `off` (by cron
    /// or a systemd timer instead: `operator-demo retention run`).
    #[arg(
        id = "retention_schedule",
        long = "retention-schedule",
        env = "RETENTION_SCHEDULE",
        value_name = "RETENTION_SCHEDULE",
        default_value = "03:00"
    )]
    pub schedule: Schedule,

    /// The periods and `ARCHIVE_URL`.
    #[command(flatten)]
    pub settings: RetentionSettings,
}
