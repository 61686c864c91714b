//! Backups: `operator-demo backup create|list|restore|prune|verify`, and the
//! daily run inside the server.
//!
//! - Postgres: `pg_dump -Fc` of the database and `pg_dumpall --globals-only`
//!   (roles), taken in one snapshot that the manifest's row counts and
//!   checksums share (`pg_dump --snapshot`). SQLite: `VACUUM INTO`, a
//!   consistent copy while the server writes.
//! - Stored through [`crate::storage`] at `BACKUP_URL` (default
//!   `file://DATA_DIR/backups`), each object with a SHA-256 beside it, and a
//!   manifest written last (a backup without one is incomplete).
//! - `restore` checks every checksum before it touches the database, and
//!   refuses a target that holds rows unless `--force`; `verify` restores the
//!   newest backup into a scratch database and compares every table's row
//!   count and checksum with the manifest.
//! - Exit codes for cron: see [`BackupError::exit_code`].

mod error;
pub mod manifest;
mod name;
mod postgres;
mod progress;
mod schedule;
mod sqlite;

use std::path::{Path, PathBuf};

pub use self::{
    error::BackupError,
    manifest::Manifest,
    name::{BackupName, MANIFEST, human_time},
    progress::Reporter,
    schedule::{BackupMetrics, Schedule, spawn_scheduler},
};
use self::{
    error::{db_error, io_error},
    manifest::differences,
    progress::human_bytes,
};
/// The command line of `backup` lives in [`config::backup`](crate::config::backup).
pub use crate::config::backup::{
    BackupAction, BackupArgs, BackupCommon, BackupScheduleArgs, BackupSettings,
    DEFAULT_RETENTION_DAYS, PruneArgs, RestoreArgs, VerifyArgs,
};
use crate::{
    config::DatabaseArgs,
    db::Backend,
    storage::{Storage, StorageError},
};

/// The database a backup comes from and a restore goes to.
#[derive(Debug, Clone)]
enum Source {
    Postgres { url: String, tools: postgres::Tools },
    Sqlite { file: PathBuf },
}

/// One backup in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its name.
    pub name: BackupName,
    /// The bytes of its objects.
    pub size: u64,
    /// Whether its manifest is there (written last).
    pub complete: bool,
}

/// The backups of one database in one store.
#[derive(Debug, Clone)]
pub struct Backups {
    storage: Storage,
    source: Source,
    retention_days: u32,
    work_dir: PathBuf,
    reporter: Reporter,
}

impl Backups {
    /// From the settings: the store (`BACKUP_URL`, default
    /// `file://DATA_DIR/backups`), the database (`BACKUP_DATABASE_URL`, else
    /// `DATABASE_URL`, else the SQLite file in `DATA_DIR`).
    ///
    /// # Errors
    ///
    /// [`BackupError::Config`] naming the variable at fault.
    pub fn open(
        data_dir: &Path,
        database: &DatabaseArgs,
        settings: &BackupSettings,
        reporter: Reporter,
    ) -> Result<Self, BackupError> {
        let data_dir = std::path::absolute(data_dir).map_err(io_error(data_dir))?;
        let url = match settings
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(url) => url.to_owned(),
            None => format!("file://{}", data_dir.join("backups").display()),
        };
        let storage = Storage::from_url(&url).map_err(|err| BackupError::Config {
            variable: "BACKUP_URL",
            message: err.to_string(),
        })?;
        let config =
            crate::commands::db_config(&data_dir, database).map_err(|err| BackupError::Config {
                variable: "DATA_DIR",
                message: err.to_string(),
            })?;
        let backup_url = settings
            .database_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let postgres = |url: &str, variable: &'static str| {
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                Ok(Source::Postgres {
                    url: url.to_owned(),
                    tools: postgres::Tools::find(settings.pg_bindir.as_deref()),
                })
            } else {
                Err(BackupError::Config {
                    variable,
                    message: "expected a postgres:// URL".into(),
                })
            }
        };
        let source = match backup_url {
            Some(url) => postgres(url, "BACKUP_DATABASE_URL")?,
            None if config.url.starts_with("sqlite:") => Source::Sqlite {
                file: sqlite::file_of(&config.url).ok_or_else(|| BackupError::Config {
                    variable: "DATABASE_URL",
                    message: "a SQLite backup needs a database file (sqlite:///path)".into(),
                })?,
            },
            None => postgres(&config.url, "DATABASE_URL")?,
        };
        Ok(Self {
            storage,
            source,
            retention_days: settings.retention_days,
            work_dir: data_dir,
            reporter,
        })
    }

    /// The store.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Postgres or SQLite.
    pub fn backend(&self) -> Backend {
        match self.source {
            Source::Postgres { .. } => Backend::Postgres,
            Source::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// The Postgres URL backups are taken with, if any.
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        match &self.source {
            Source::Postgres { url, .. } => Some(url),
            Source::Sqlite { .. } => None,
        }
    }

    /// A scratch folder for this run, removed when dropped.
    fn scratch(&self) -> Result<tempfile::TempDir, BackupError> {
        let parent = match &self.source {
            // Beside the database: a rename into place stays on one disk.
            Source::Sqlite { file } => file.parent().unwrap_or(&self.work_dir).to_owned(),
            Source::Postgres { .. } => self.work_dir.clone(),
        };
        std::fs::create_dir_all(&parent).map_err(io_error(&parent))?;
        tempfile::Builder::new()
            .prefix(".backup-")
            .tempdir_in(&parent)
            .map_err(io_error(&parent))
    }

    /// Takes a backup now and stores it; returns its manifest.
    ///
    /// # Errors
    ///
    /// [`BackupError`].
    pub async fn create(&self) -> Result<Manifest, BackupError> {
        let scratch = self.scratch()?;
        let taken = match &self.source {
            Source::Postgres { url, tools } => {
                postgres::dump(url, tools, scratch.path(), self.reporter).await?
            }
            Source::Sqlite { file } => sqlite::copy(file, scratch.path(), self.reporter).await?,
        };
        let name = BackupName::new(self.backend(), taken.time, taken.version);
        let mut files = Vec::new();
        for (suffix, path) in &taken.files {
            let object = name.object(suffix);
            let size = std::fs::metadata(path).map_err(io_error(path))?.len();
            let step = self.reporter.start(format!("upload {object}"), Some(size));
            let stored = self
                .storage
                .put_file(&object, path, |done| step.set(done))
                .await?;
            step.done(&human_bytes(stored.size));
            files.push(manifest::FileEntry {
                name: object,
                size: stored.size,
                sha256: stored.sha256,
            });
        }
        let manifest = Manifest {
            format: 1,
            name: name.to_string(),
            backend: name.backend.to_owned(),
            created_at: taken.time,
            migration_version: taken.version,
            files,
            tables: taken.tables,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|err| BackupError::Database(format!("manifest: {err}")))?;
        self.storage
            .put(&name.object(MANIFEST), json.into())
            .await?;
        self.reporter.line(&format!(
            "stored {} ({}, {} tables, {} rows)",
            manifest.name,
            human_bytes(manifest.size()),
            manifest.tables.len(),
            manifest.tables.iter().map(|t| t.rows).sum::<i64>()
        ));
        Ok(manifest)
    }

    /// Every backup in the store, oldest first.
    ///
    /// # Errors
    ///
    /// [`BackupError::Storage`].
    pub async fn list(&self) -> Result<Vec<Listed>, BackupError> {
        let mut backups: Vec<Listed> = Vec::new();
        for object in self.storage.list().await? {
            let Some(name) = BackupName::of_object(&object.name) else {
                continue;
            };
            let complete = object.name.ends_with(MANIFEST);
            match backups.iter_mut().find(|b| b.name == name) {
                Some(listed) => {
                    listed.size += object.size;
                    listed.complete |= complete;
                }
                None => backups.push(Listed {
                    name,
                    size: object.size,
                    complete,
                }),
            }
        }
        backups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(backups)
    }

    /// The newest complete backup, if any.
    ///
    /// # Errors
    ///
    /// [`BackupError::Storage`].
    pub async fn newest(&self) -> Result<Option<Listed>, BackupError> {
        let backend = name::backend_str(self.backend());
        Ok(self
            .list()
            .await?
            .into_iter()
            .rev()
            .find(|b| b.complete && b.name.backend == backend))
    }

    /// The manifest of `name` (the newest complete backup when `None`),
    /// checked against its checksum.
    async fn manifest(&self, name: Option<&str>) -> Result<Manifest, BackupError> {
        let name = match name {
            Some(name) => {
                let name = name.trim().trim_end_matches(MANIFEST);
                BackupName::of_object(name)
                    .filter(|parsed| parsed.to_string() == name)
                    .ok_or_else(|| BackupError::NoBackup {
                        what: format!("named {name:?}"),
                        url: self.storage.url().to_owned(),
                    })?
            }
            None => {
                self.newest()
                    .await?
                    .ok_or_else(|| BackupError::NoBackup {
                        what: "(complete) yet".into(),
                        url: self.storage.url().to_owned(),
                    })?
                    .name
            }
        };
        let object = name.object(MANIFEST);
        let bytes = match self.storage.get(&object).await {
            Err(StorageError::MissingChecksum { .. } | StorageError::Store { .. })
                if !self
                    .list()
                    .await?
                    .iter()
                    .any(|b| b.name == name && b.complete) =>
            {
                return Err(BackupError::NoBackup {
                    what: format!("named {name}"),
                    url: self.storage.url().to_owned(),
                });
            }
            other => other?,
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|err| BackupError::Corrupt {
                name: name.to_string(),
                message: format!("unreadable manifest: {err}"),
            })?;
        if manifest.backend != name::backend_str(self.backend()) {
            return Err(BackupError::Config {
                variable: "DATABASE_URL",
                message: format!(
                    "backup {} is of a {} database, this one is {}",
                    manifest.name,
                    manifest.backend,
                    name::backend_str(self.backend())
                ),
            });
        }
        Ok(manifest)
    }

    /// Downloads every file of `manifest` into `dir`, each checked against
    /// its checksum (and the manifest's) before anything else happens.
    async fn download(&self, manifest: &Manifest, dir: &Path) -> Result<Vec<PathBuf>, BackupError> {
        let mut paths = Vec::new();
        for file in &manifest.files {
            let path = dir.join(&file.name);
            let step = self
                .reporter
                .start(format!("download {}", file.name), Some(file.size));
            let size = self
                .storage
                .get_file(&file.name, &path, |done| step.set(done))
                .await?;
            let recorded = self.storage.checksum(&file.name).await?;
            if recorded != file.sha256 || size != file.size {
                return Err(BackupError::Corrupt {
                    name: manifest.name.clone(),
                    message: format!(
                        "{} does not match the manifest (size {size} vs {}, sha256 {recorded} vs {})",
                        file.name, file.size, file.sha256
                    ),
                });
            }
            step.done(&format!("{}, checksum ok", human_bytes(size)));
            paths.push(path);
        }
        Ok(paths)
    }

    /// Restores `name` (the newest when `None`) into the database: every
    /// checksum first, then the target must hold no rows unless `force`,
    /// then the restore, then the restored tables are compared with the
    /// manifest.
    ///
    /// # Errors
    ///
    /// [`BackupError`]: `NotEmpty` without `force`, `Storage` on a checksum
    /// mismatch, `Mismatch` when the restored tables differ.
    pub async fn restore(
        &self,
        name: Option<&str>,
        force: bool,
        with_globals: bool,
    ) -> Result<Manifest, BackupError> {
        let manifest = self.manifest(name).await?;
        let scratch = self.scratch()?;
        let files = self.download(&manifest, scratch.path()).await?;
        let tables = match &self.source {
            Source::Postgres { url, tools } => {
                postgres::restore(
                    url,
                    tools,
                    &manifest,
                    &files,
                    force,
                    with_globals,
                    self.reporter,
                )
                .await?
            }
            Source::Sqlite { file } => {
                sqlite::restore(file, &manifest, &files, force, self.reporter).await?
            }
        };
        compare(&manifest, &tables)?;
        self.reporter.line(&format!(
            "restored {} ({} tables match the manifest)",
            manifest.name,
            tables.len()
        ));
        Ok(manifest)
    }

    /// Restores `name` (the newest when `None`) into a scratch database
    /// (Postgres: a temporary database on the same server; SQLite: a
    /// temporary file) and compares every table with the manifest.
    ///
    /// # Errors
    ///
    /// [`BackupError`]: `Storage` on a checksum mismatch, `Mismatch` when a
    /// table differs.
    pub async fn verify(&self, name: Option<&str>) -> Result<Manifest, BackupError> {
        let manifest = self.manifest(name).await?;
        let scratch = self.scratch()?;
        let files = self.download(&manifest, scratch.path()).await?;
        let tables = match &self.source {
            Source::Postgres { url, tools } => {
                postgres::verify(url, tools, &files, self.reporter).await?
            }
            Source::Sqlite { .. } => sqlite::stats_of(&files[0]).await?,
        };
        compare(&manifest, &tables)?;
        self.reporter.line(&format!(
            "verified {}: {} tables, {} rows, row counts and checksums match",
            manifest.name,
            tables.len(),
            tables.iter().map(|t| t.rows).sum::<i64>()
        ));
        Ok(manifest)
    }

    /// Deletes this backend's backups (and incomplete leftovers) taken more
    /// than `BACKUP_RETENTION_DAYS` before `now` (Unix seconds), but never
    /// the newest complete one. Returns the deleted ones.
    ///
    /// # Errors
    ///
    /// [`BackupError::Storage`].
    pub async fn prune(&self, now: i64, dry_run: bool) -> Result<Vec<Listed>, BackupError> {
        let cutoff = now - i64::from(self.retention_days) * 86_400;
        let newest = self.newest().await?.map(|b| b.name);
        let objects = self.storage.list().await?;
        let mut deleted = Vec::new();
        let backend = name::backend_str(self.backend());
        for backup in self.list().await? {
            // Another database's backups in the same store are its own prune's.
            if backup.name.backend != backend
                || backup.name.time >= cutoff
                || Some(&backup.name) == newest.as_ref()
            {
                continue;
            }
            if !dry_run {
                // The manifest first: a backup half deleted is incomplete, not
                // mistaken for a good one.
                let mut names: Vec<&str> = objects
                    .iter()
                    .map(|o| o.name.as_str())
                    .filter(|o| BackupName::of_object(o).as_ref() == Some(&backup.name))
                    .collect();
                names.sort_by_key(|o| !o.ends_with(MANIFEST));
                for object in names {
                    self.storage.delete(object).await?;
                }
            }
            deleted.push(backup);
        }
        Ok(deleted)
    }
}

/// Runs `operator-demo backup ...`.
///
/// # Errors
///
/// [`BackupError`]; its [`exit_code`](BackupError::exit_code) is the
/// process's.
#[allow(
    clippy::print_stdout,
    reason = "the command's output for a person or a script"
)]
pub async fn run(args: BackupArgs) -> Result<(), BackupError> {
    let open = |common: &BackupCommon| {
        Backups::open(
            &common.data_dir,
            &common.database,
            &common.settings,
            Reporter::Command,
        )
    };
    match args.action {
        BackupAction::Create(common) => {
            let manifest = open(&common)?.create().await?;
            println!("{}", manifest.name);
        }
        BackupAction::List(common) => {
            for backup in open(&common)?.list().await? {
                println!(
                    "{}  {}  v{}  {:>10}  {}",
                    backup.name,
                    human_time(backup.name.time),
                    backup.name.version,
                    human_bytes(backup.size),
                    if backup.complete {
                        "complete"
                    } else {
                        "INCOMPLETE"
                    }
                );
            }
        }
        BackupAction::Restore(args) => {
            let manifest = open(&args.common)?
                .restore(args.name.as_deref(), args.force, args.with_globals)
                .await?;
            println!("{}", manifest.name);
        }
        BackupAction::Prune(args) => {
            let backups = open(&args.common)?;
            let before = backups.list().await?.len();
            let deleted = backups.prune(crate::db::now(), args.dry_run).await?;
            let verb = if args.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            for backup in &deleted {
                println!("{verb} {}", backup.name);
            }
            let kept = before - deleted.len();
            println!(
                "{verb} {} backup(s) older than {} days; {kept} kept",
                deleted.len(),
                backups.retention_days
            );
        }
        BackupAction::Verify(args) => {
            let manifest = open(&args.common)?.verify(args.name.as_deref()).await?;
            println!("{}", manifest.name);
        }
    }
    Ok(())
}

/// [`BackupError::Mismatch`] unless `tables` are what the manifest recorded.
fn compare(manifest: &Manifest, tables: &[manifest::TableStats]) -> Result<(), BackupError> {
    let lines = differences(&manifest.tables, tables);
    if lines.is_empty() {
        Ok(())
    } else {
        Err(BackupError::Mismatch {
            name: manifest.name.clone(),
            lines,
        })
    }
}

/// Refuses a restore target (`pool`, named `target` in the message) that
/// holds rows, unless `force`.
async fn refuse_full(
    pool: sqlx::AnyPool,
    postgres: bool,
    force: bool,
    target: String,
) -> Result<(), BackupError> {
    let full = async {
        let mut conn = pool.acquire().await?;
        if postgres {
            // Every row counts, whatever row-level security would show.
            sqlx::Executor::execute(&mut *conn, "SET row_security = off").await?;
        }
        manifest::has_data(&mut conn, postgres).await
    }
    .await
    .map_err(db_error("looking at the restore target"));
    pool.close().await;
    if full? && !force {
        Err(BackupError::NotEmpty { target })
    } else {
        Ok(())
    }
}

/// What a backend's snapshot produced, before upload.
#[derive(Debug)]
struct Taken {
    time: i64,
    version: i64,
    /// (object suffix, local file)
    files: Vec<(&'static str, PathBuf)>,
    tables: Vec<manifest::TableStats>,
}
