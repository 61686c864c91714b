//! Why a backup command failed, and the exit code that tells cron.

use std::path::Path;

use crate::storage::StorageError;

/// Why a backup command failed; [`BackupError::exit_code`] tells cron.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A setting cannot be used.
    #[error("invalid {variable}: {message}")]
    Config {
        /// The variable at fault.
        variable: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store failed (unreachable, denied, ...), or a checksum did not match.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The backup's manifest cannot be read.
    #[error("backup {name} is corrupt: {message}")]
    Corrupt {
        /// The backup.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The database or one of its tools failed.
    #[error("{0}")]
    Database(String),
    /// The restore target holds rows and `--force` was not given.
    #[error(
        "the target database {target} is not empty; restore replaces its data: \
         pass --force to do that, or restore into an empty database"
    )]
    NotEmpty {
        /// The database (its URL without password, or its file).
        target: String,
    },
    /// The restored data differs from the manifest.
    #[error("backup {name} does not match its manifest after restore:\n  {}", lines.join("\n  "))]
    Mismatch {
        /// The backup.
        name: String,
        /// One line per table that differs.
        lines: Vec<String>,
    },
    /// No (such) backup in the store.
    #[error("no backup {what} at {url}")]
    NoBackup {
        /// What was looked for.
        what: String,
        /// The store.
        url: String,
    },
    /// A local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl BackupError {
    /// The process's exit status for this error, for cron and monitoring:
    ///
    /// | code | meaning |
    /// | --- | --- |
    /// | 0 | success |
    /// | 1 | a setting, the database connection or a local file failed |
    /// | 2 | bad command line (clap) |
    /// | 3 | the store failed (unreachable, credentials, permissions) |
    /// | 4 | a checksum does not match, or a backup is incomplete: it is corrupt |
    /// | 5 | restore: the target database is not empty (no `--force`) |
    /// | 6 | verify / restore: the restored data differs from the manifest |
    /// | 7 | the database tool (pg_dump, pg_restore, ...) or a query failed |
    /// | 8 | no backup (of that name) in the store |
    ///
    /// ```
    /// use operator_demo::backup::BackupError;
    ///
    /// let err = BackupError::NotEmpty { target: "db".into() };
    /// assert_eq!(err.exit_code(), 5);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config { .. } | Self::Io { .. } => 1,
            Self::Storage(StorageError::Checksum { .. } | StorageError::MissingChecksum { .. })
            | Self::Corrupt { .. } => 4,
            Self::Storage(_) => 3,
            Self::NotEmpty { .. } => 5,
            Self::Mismatch { .. } => 6,
            Self::Database(_) => 7,
            Self::NoBackup { .. } => 8,
        }
    }
}

pub(super) fn db_error(context: &str) -> impl FnOnce(sqlx::Error) -> BackupError + '_ {
    move |err| BackupError::Database(format!("{context}: {err}"))
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}
