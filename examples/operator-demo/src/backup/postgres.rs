//! Postgres through its own tools: `pg_dump -Fc` in the snapshot of a
//! transaction that also counts and checksums every table, `pg_dumpall
//! --globals-only` for the roles, `pg_restore` back.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, any::AnyPoolOptions, pool::PoolConnection};

use super::{
    BackupError, Manifest, Reporter, Taken, db_error,
    manifest::{TableStats, migration_version, postgres_stats},
    refuse_full,
};

/// Where the Postgres client tools are.
#[derive(Debug, Clone)]
pub(super) struct Tools {
    bindir: Option<PathBuf>,
}

impl Tools {
    /// `BACKUP_PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin`
    /// (Debian's versioned folders: a pg_dump at least as new as the server),
    /// else the PATH.
    pub(super) fn find(bindir: Option<&Path>) -> Self {
        let bindir = bindir.map(Path::to_owned).or_else(|| {
            let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|entry| {
                    let entry = entry.ok()?;
                    let version = entry.file_name().to_str()?.parse().ok()?;
                    let bin = entry.path().join("bin");
                    bin.join("pg_dump").exists().then_some((version, bin))
                })
                .collect();
            found.sort();
            found.pop().map(|(_, bin)| bin)
        });
        Self { bindir }
    }

    fn command(&self, tool: &str) -> tokio::process::Command {
        let program = match &self.bindir {
            Some(dir) => dir.join(tool),
            None => PathBuf::from(tool),
        };
        let mut command = tokio::process::Command::new(program);
        command
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `tool` with `args` to the end; its standard error on failure.
    async fn run(&self, tool: &str, args: &[&str]) -> Result<String, BackupError> {
        let output = self
            .command(tool)
            .args(args)
            .output()
            .await
            .map_err(|err| {
                BackupError::Database(format!(
                    "cannot run {tool} (install the PostgreSQL client, or set BACKUP_PG_BINDIR): {err}"
                ))
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if output.status.success() {
            Ok(stderr)
        } else {
            Err(BackupError::Database(format!(
                "{tool} failed ({}): {}",
                output.status,
                redact_in(&stderr)
            )))
        }
    }
}

async fn connect(url: &str) -> Result<AnyPool, BackupError> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(|err| BackupError::Config {
            variable: "BACKUP_DATABASE_URL",
            message: format!("cannot connect to {}: {err}", redact(url)),
        })
}

/// Dumps the database at `url` into `dir`.
pub(super) async fn dump(
    url: &str,
    tools: &Tools,
    dir: &Path,
    reporter: Reporter,
) -> Result<Taken, BackupError> {
    let pool = connect(url).await?;
    let mut conn = pool.acquire().await.map_err(db_error("connect"))?;
    // One snapshot for the dump and the manifest: pg_dump --snapshot
    // reads what this transaction sees, so the counts are the dump's.
    begin_snapshot(&mut conn).await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("pg_export_snapshot"))?;
    let time = crate::db::now();
    let version = migration_version(&mut conn, true)
        .await
        .map_err(db_error("migration version"))?;

    let dump_file = dir.join("database.pgdump");
    let step = reporter.start("pg_dump -Fc", None);
    let dump_path = dump_file.display().to_string();
    let snapshot_arg = format!("--snapshot={snapshot}");
    let dump_args = [
        "--format=custom",
        "--no-password",
        &snapshot_arg,
        "--file",
        &dump_path,
        "--dbname",
        url,
    ];
    let dump = tools.run("pg_dump", &dump_args);
    // The tables are read in the snapshot while pg_dump writes.
    let (dumped, tables) = tokio::join!(dump, postgres_stats(&mut conn));
    dumped?;
    let tables = tables.map_err(|err| {
        BackupError::Database(format!(
            "counting the rows: {err} (the role of BACKUP_DATABASE_URL must see every row: superuser or BYPASSRLS)"
        ))
    })?;
    let _ = conn.execute("COMMIT").await;
    drop(conn);
    pool.close().await;
    let size = std::fs::metadata(&dump_file).map(|m| m.len()).unwrap_or(0);
    step.done(&super::human_bytes(size));

    let globals_file = dir.join("globals.sql");
    let globals_path = globals_file.display().to_string();
    let step = reporter.start("pg_dumpall --globals-only", None);
    let globals = [
        "--globals-only",
        "--no-password",
        "--file",
        &globals_path,
        "--dbname",
        url,
    ];
    if let Err(err) = tools.run("pg_dumpall", &globals).await {
        // Password hashes need a superuser; without one, the roles alone.
        reporter.line(&format!("{err}; again without the role passwords"));
        let mut args = globals.to_vec();
        args.push("--no-role-passwords");
        tools.run("pg_dumpall", &args).await?;
    }
    step.done("roles");
    Ok(Taken {
        time,
        version,
        files: vec![(".pgdump", dump_file), (".globals.sql", globals_file)],
        tables,
    })
}

fn file<'a>(files: &'a [PathBuf], suffix: &str) -> Option<&'a PathBuf> {
    files.iter().find(|f| f.to_string_lossy().ends_with(suffix))
}

/// A read-only transaction with one snapshot for every query in it. With
/// row_security off, a role that row-level security would filter fails, as
/// pg_dump does, instead of counting part of the rows.
async fn begin_snapshot(conn: &mut PoolConnection<Any>) -> Result<(), BackupError> {
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(db_error("begin"))?;
    conn.execute("SET LOCAL row_security = off")
        .await
        .map_err(db_error("row_security"))?;
    Ok(())
}

async fn stats(url: &str) -> Result<Vec<TableStats>, BackupError> {
    let pool = connect(url).await?;
    let mut conn = pool.acquire().await.map_err(db_error("connect"))?;
    begin_snapshot(&mut conn).await?;
    let tables = postgres_stats(&mut conn)
        .await
        .map_err(db_error("counting the restored rows"))?;
    let _ = conn.execute("COMMIT").await;
    drop(conn);
    pool.close().await;
    Ok(tables)
}

/// Restores the downloaded `files` into the database at `url`; returns the
/// restored tables' counts and checksums.
pub(super) async fn restore(
    url: &str,
    tools: &Tools,
    manifest: &Manifest,
    files: &[PathBuf],
    force: bool,
    with_globals: bool,
    reporter: Reporter,
) -> Result<Vec<TableStats>, BackupError> {
    let dump = file(files, ".pgdump").ok_or_else(|| BackupError::Corrupt {
        name: manifest.name.clone(),
        message: "no .pgdump file in the manifest".into(),
    })?;
    refuse_full(connect(url).await?, true, force, redact(url)).await?;
    if with_globals {
        if let Some(globals) = file(files, ".globals.sql") {
            let step = reporter.start("psql -f globals.sql (roles)", None);
            let path = globals.display().to_string();
            // Roles that exist already fail alone; the rest is created.
            let stderr = tools
                .run(
                    "psql",
                    &["-X", "-q", "--no-password", "-d", url, "-f", &path],
                )
                .await?;
            let skipped = stderr.lines().filter(|l| l.contains("ERROR")).count();
            step.done(&format!(
                "{skipped} statement(s) skipped (roles that exist)"
            ));
        }
    }
    let step = reporter.start("pg_restore", None);
    let path = dump.display().to_string();
    tools
        .run(
            "pg_restore",
            &[
                "--clean",
                "--if-exists",
                "--exit-on-error",
                "--single-transaction",
                "--no-password",
                "--dbname",
                url,
                &path,
            ],
        )
        .await?;
    step.done("restored");
    let step = reporter.start("compare with the manifest", None);
    let tables = stats(url).await?;
    step.done("counted");
    Ok(tables)
}

/// Restores the dump into a temporary database beside the one at `url`,
/// counts and checksums it, drops it.
pub(super) async fn verify(
    url: &str,
    tools: &Tools,
    files: &[PathBuf],
    reporter: Reporter,
) -> Result<Vec<TableStats>, BackupError> {
    let dump = file(files, ".pgdump")
        .ok_or_else(|| BackupError::Database("no .pgdump file in the backup".into()))?;
    let scratch = format!(
        "operator_demo_verify_{}_{}",
        std::process::id(),
        crate::db::now()
    );
    let pool = connect(url).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {scratch}")))
        .execute(&pool)
        .await
        .map_err(db_error(
            "creating the scratch database (the role of BACKUP_DATABASE_URL needs CREATEDB)",
        ))?;
    let scratch_url = with_database(url, &scratch);
    let step = reporter.start(format!("pg_restore into {scratch}"), None);
    let path = dump.display().to_string();
    let restored = async {
        tools
            .run(
                "pg_restore",
                &[
                    "--no-owner",
                    "--no-acl",
                    "--exit-on-error",
                    "--no-password",
                    "--dbname",
                    &scratch_url,
                    &path,
                ],
            )
            .await?;
        stats(&scratch_url).await
    }
    .await;
    // Dropped whatever happened.
    let dropped = sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"
    )))
    .execute(&pool)
    .await;
    pool.close().await;
    if let Err(err) = dropped {
        reporter.line(&format!(
            "could not drop the scratch database {scratch}: {err}"
        ));
    }
    let tables = restored?;
    step.done("restored and counted");
    Ok(tables)
}

/// `url` with its database replaced by `name`.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query
        .split_once('/')
        .map_or(before_query, |(a, _)| a);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// `url` without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) if rest[..at].contains(':') => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// A tool's message with any `postgres://` URL in it redacted.
fn redact_in(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains("://") && word.contains('@') {
                redact(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_change_database_and_lose_passwords() {
        assert_eq!(
            with_database("postgres://u:p@h:5/db?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert!(!redact_in("bad postgres://u:secret@h/db here").contains("secret"));
    }
}
