//! What the periodic jobs share (the daily backup, the daily retention
//! run): a Postgres session advisory lock so that one replica at a time
//! runs a job, and a file lock for the embedded SQLite database, where
//! several `operator-demo` processes may share one file.
//!
//! A session lock is released by Postgres when its holder's connection
//! dies, and a file lock by the kernel when its holder exits: a crash frees
//! either.

use std::{fs::File, path::Path, time::Duration};

use sqlx::{Any, pool::PoolConnection};

/// How long [`JobLock`] waits for another holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Not at all: `None` at once when the lock is held.
    No,
    /// Up to this long.
    Up(Duration),
}

/// A held lock of one job; [`JobLock::release`] (or dropping it) frees it.
#[derive(Debug)]
pub enum JobLock {
    /// A Postgres session advisory lock, on its own connection.
    Postgres {
        /// The pool of that one connection.
        pool: sqlx::AnyPool,
        /// The connection holding the lock.
        conn: PoolConnection<Any>,
        /// The lock's key.
        key: i64,
    },
    /// An exclusive lock on a file (released when dropped).
    #[cfg(unix)]
    File(nix::fcntl::Flock<File>),
    /// A file (no lock on this system).
    #[cfg(not(unix))]
    File(File),
}

impl JobLock {
    /// The advisory lock `key` on the database at `url` (a Postgres URL),
    /// or `None` when another session held it for all of `wait`.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn postgres(url: &str, key: i64, wait: Wait) -> Result<Option<Self>, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let mut conn = pool.acquire().await?;
        let taken = match wait {
            Wait::No => {
                sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut *conn)
                    .await?
            }
            Wait::Up(limit) => {
                // Bounded: a run stuck for hours is not waited for.
                // A number the code chose, never input.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SET lock_timeout = '{}ms'",
                    limit.as_millis()
                )))
                .execute(&mut *conn)
                .await?;
                match sqlx::query("SELECT 1 FROM (SELECT pg_advisory_lock($1)) AS locked")
                    .bind(key)
                    .execute(&mut *conn)
                    .await
                {
                    Ok(_) => true,
                    // 55P03: lock_timeout.
                    Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("55P03") => {
                        false
                    }
                    Err(err) => return Err(err),
                }
            }
        };
        if taken {
            Ok(Some(Self::Postgres { pool, conn, key }))
        } else {
            drop(conn);
            pool.close().await;
            Ok(None)
        }
    }

    /// An exclusive lock on `path` (created when missing), or `None` when
    /// another process holds it. `flock(2)`: on other systems than Unix
    /// there is no lock (one process per SQLite file is assumed there).
    ///
    /// # Errors
    ///
    /// The file cannot be opened or locked.
    pub fn file(path: &Path) -> std::io::Result<Option<Self>> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        #[cfg(unix)]
        {
            use nix::{errno::Errno, fcntl};
            match fcntl::Flock::lock(file, fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(lock) => Ok(Some(Self::File(lock))),
                Err((_, Errno::EWOULDBLOCK)) => Ok(None),
                Err((_, errno)) => Err(errno.into()),
            }
        }
        #[cfg(not(unix))]
        Ok(Some(Self::File(file)))
    }

    /// Frees the lock.
    pub async fn release(self) {
        match self {
            Self::Postgres {
                pool,
                mut conn,
                key,
            } => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(&mut *conn)
                    .await;
                drop(conn);
                pool.close().await;
            }
            Self::File(file) => drop(file),
        }
    }
}
