//! The command line of `operator-demo backup` and the `BACKUP_*` settings.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::{backup::Schedule, config::DatabaseArgs};

/// `BACKUP_RETENTION_DAYS`'s default: the plan keeps daily backups 30 days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// `operator-demo backup ...`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: BackupAction,
}

/// The backup subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum BackupAction {
    /// Back the database up now and store it at BACKUP_URL; prints its name.
    Create(BackupCommon),
    /// List the backups at BACKUP_URL, oldest first.
    List(BackupCommon),
    /// Restore a backup (the newest by default) into the database.
    Restore(RestoreArgs),
    /// Delete the backups older than BACKUP_RETENTION_DAYS (the newest
    /// complete backup is always kept).
    Prune(PruneArgs),
    /// Restore a backup (the newest by default) into a scratch database and
    /// compare every table with its manifest.
    Verify(VerifyArgs),
}

/// Options every backup subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct BackupCommon {
    /// Folder of the embedded default's SQLite file (and of the default
    /// BACKUP_URL).
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

    /// Where backups go, and for how long.
    #[command(flatten)]
    pub settings: BackupSettings,
}

/// Where backups go and how they are taken (`BACKUP_*`).
#[derive(Debug, Clone, Args)]
pub struct BackupSettings {
    /// `file:///path` or `s3://bucket/prefix` (credentials and endpoint from
    /// AWS_*). Default: file://DATA_DIR/backups.
    #[arg(
        id = "backup_url",
        long = "backup-url",
        env = "BACKUP_URL",
        value_name = "BACKUP_URL"
    )]
    pub url: Option<String>,

    /// Days a backup is kept by `prune` and by the scheduled run.
    #[arg(
        id = "backup_retention_days",
        long = "backup-retention-days",
        env = "BACKUP_RETENTION_DAYS",
        value_name = "BACKUP_RETENTION_DAYS",
        default_value_t = DEFAULT_RETENTION_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=36_500)
    )]
    pub retention_days: u32,

    /// Postgres: the role pg_dump and pg_restore connect as, which must see
    /// every row (superuser or BYPASSRLS). Default: DATABASE_URL.
    #[arg(
        id = "backup_database_url",
        long = "backup-database-url",
        env = "BACKUP_DATABASE_URL",
        value_name = "BACKUP_DATABASE_URL"
    )]
    pub database_url: Option<String>,

    /// Postgres: the folder of pg_dump, pg_dumpall, pg_restore and psql.
    /// Default: the newest /usr/lib/postgresql/*/bin, else the PATH.
    #[arg(
        id = "backup_pg_bindir",
        long = "backup-pg-bindir",
        env = "BACKUP_PG_BINDIR",
        value_name = "BACKUP_PG_BINDIR"
    )]
    pub pg_bindir: Option<PathBuf>,
}

/// Options of `backup restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup (as `backup list` prints it); the newest when omitted.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Restore over a database that holds rows (they are replaced).
    #[arg(long = "force")]
    pub force: bool,

    /// Postgres: run the roles script (pg_dumpall --globals-only) first, for
    /// a new cluster; roles that exist are left as they are.
    #[arg(long = "with-globals")]
    pub with_globals: bool,

    /// The rest.
    #[command(flatten)]
    pub common: BackupCommon,
}

/// Options of `backup prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Say what would be deleted; delete nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// The rest.
    #[command(flatten)]
    pub common: BackupCommon,
}

/// Options of `backup verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The backup; the newest when omitted.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// The rest.
    #[command(flatten)]
    pub common: BackupCommon,
}

/// The server's backup settings: `BACKUP_SCHEDULE` and the `BACKUP_*`
/// variables of the command.
#[derive(Debug, Clone, Args)]
pub struct BackupScheduleArgs {
    /// Daily backup time, `HH:MM` or `HH:MM:SS` UTC, or `off` (backups by
    /// cron or a systemd timer instead).
    #[arg(
        id = "backup_schedule",
        long = "backup-schedule",
        env = "BACKUP_SCHEDULE",
        value_name = "BACKUP_SCHEDULE",
        default_value = "02:00"
    )]
    pub schedule: Schedule,

    /// Where backups go, and for how long.
    #[command(flatten)]
    pub settings: BackupSettings,
}
