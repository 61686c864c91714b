//! SQLite: `VACUUM INTO` a fresh file (a consistent copy while the server
//! writes: it reads in one transaction), counted and checksummed from that
//! copy; restored by moving a checked copy into place.

use std::path::{Path, PathBuf};

use sqlx::{AnyPool, AssertSqlSafe, any::AnyPoolOptions};

use super::{
    BackupError, Manifest, Reporter, Taken, compare, db_error, io_error,
    manifest::{TableStats, migration_version, sqlite_stats},
    refuse_full,
};
use crate::db::sqlite_url;

/// The file a `sqlite://` URL names (`None` for an in-memory database).
pub(super) fn file_of(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let decoded = percent_decode(path);
    Some(PathBuf::from(decoded))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn open(file: &Path, read_only: bool) -> Result<AnyPool, BackupError> {
    sqlx::any::install_default_drivers();
    let mut url = sqlite_url(file);
    if read_only {
        url = url.replace("mode=rwc", "mode=ro");
    }
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .map_err(|err| BackupError::Database(format!("cannot open {}: {err}", file.display())))
}

/// Copies the database `file` into `dir` with `VACUUM INTO`.
pub(super) async fn copy(
    file: &Path,
    dir: &Path,
    reporter: Reporter,
) -> Result<Taken, BackupError> {
    if !file.exists() {
        return Err(BackupError::Config {
            variable: "DATABASE_URL",
            message: format!("no SQLite database at {}", file.display()),
        });
    }
    let copy = dir.join("database.sqlite3");
    let step = reporter.start("VACUUM INTO", None);
    let pool = open(file, false).await?;
    let time = crate::db::now();
    let target = copy.display().to_string().replace('\'', "''");
    sqlx::query(AssertSqlSafe(format!("VACUUM INTO '{target}'")))
        .execute(&pool)
        .await
        .map_err(db_error("VACUUM INTO"))?;
    pool.close().await;
    let size = std::fs::metadata(&copy).map_err(io_error(&copy))?.len();
    step.done(&super::human_bytes(size));
    let (version, tables) = version_and_stats(&copy).await?;
    Ok(Taken {
        time,
        version,
        files: vec![(".sqlite3", copy)],
        tables,
    })
}

async fn version_and_stats(file: &Path) -> Result<(i64, Vec<TableStats>), BackupError> {
    let pool = open(file, true).await?;
    let mut conn = pool.acquire().await.map_err(db_error("open"))?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("PRAGMA quick_check"))?;
    if check != "ok" {
        return Err(BackupError::Database(format!(
            "{} fails SQLite's quick_check: {check}",
            file.display()
        )));
    }
    let version = migration_version(&mut conn, false)
        .await
        .map_err(db_error("migration version"))?;
    let tables = sqlite_stats(&mut conn)
        .await
        .map_err(db_error("counting rows"))?;
    drop(conn);
    pool.close().await;
    Ok((version, tables))
}

/// Counts and checksums a downloaded copy.
pub(super) async fn stats_of(file: &Path) -> Result<Vec<TableStats>, BackupError> {
    Ok(version_and_stats(file).await?.1)
}

/// Puts the downloaded copy in place of `target` (checked first: readable,
/// and the same as the manifest says); refuses a target with rows unless
/// `force`. Stop the server first: it holds the old file open.
pub(super) async fn restore(
    target: &Path,
    manifest: &Manifest,
    files: &[PathBuf],
    force: bool,
    reporter: Reporter,
) -> Result<Vec<TableStats>, BackupError> {
    let copy = files.first().ok_or_else(|| BackupError::Corrupt {
        name: manifest.name.clone(),
        message: "no file in the manifest".into(),
    })?;
    let tables = stats_of(copy).await?;
    // Checked before the target is touched.
    compare(manifest, &tables)?;
    if target.exists() {
        let target_name = target.display().to_string();
        refuse_full(open(target, true).await?, false, force, target_name).await?;
    }
    let step = reporter.start(format!("replace {}", target.display()), None);
    // An old write-ahead log beside the new file would be replayed into it.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = target.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_error(&side)(err)),
        }
    }
    std::fs::rename(copy, target).map_err(io_error(target))?;
    step.done("restored");
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file() {
        assert_eq!(
            file_of("sqlite:///tmp/a%20b.db?mode=rwc"),
            Some(PathBuf::from("/tmp/a b.db"))
        );
        assert_eq!(file_of("sqlite::memory:"), None);
        assert_eq!(file_of("sqlite:data.db"), Some(PathBuf::from("data.db")));
        assert_eq!(file_of("postgres://h/db"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
