//! Data retention, the plan's policy: `operator-demo retention run
//! [--dry-run]` and the daily run inside the server.
//!
//! | data | after | action |
//! |---|---|---|
//! | call sessions | `RETENTION_SESSIONS_DAYS` (90) after they ended | deleted, once no call references them |
//! | calls (and their dispositions) | `RETENTION_CALLS_DAYS` (365) after they started | archived to `ARCHIVE_URL`, read back and checked, then deleted |
//! | dispositions | `RETENTION_DISPOSITIONS_DAYS` (730) after their last change | anonymized: `notes` `[ANONYMIZED]`, `custom_fields` `{}` |
//!
//! Order, per organization (each in its own transactions as the app's role,
//! so row-level security applies): the calls due are read in batches and
//! written as one gzipped JSON-lines object, which is read back and checked
//! (SHA-256 of the object and of its lines, line count, the set of ids)
//! before any of them is deleted; a failed upload or check changes nothing
//! in that organization. Then the calls are deleted in batches (their
//! dispositions go with them: `ON DELETE CASCADE`), the old dispositions of
//! the remaining calls anonymized, and the old sessions deleted. A session
//! is deleted only once no call references it: `calls.session_id` cascades,
//! so deleting a session at 90 days would take its calls with it,
//! unarchived. Such sessions are counted as `held`.
//!
//! Every organization is visited, those whose users were all erased too:
//! the list is `organization_ids`, a table of ids without row-level
//! security that a trigger fills; see docs/compliance.md.

mod archive;
mod report;
mod schedule;

use std::path::{Path, PathBuf};

use serde_json::json;
use sqlx::Row;

pub use self::{
    archive::{ArchiveLine, read_archive},
    report::{Archived, OrgReport, RunReport},
    schedule::{ACTIONS, RetentionMetrics, spawn_scheduler},
};
/// The settings (`RETENTION_*`, `ARCHIVE_URL`) live in
/// [`config::retention`](crate::config::retention).
pub use crate::config::retention::{
    Cutoffs, RetentionAction, RetentionArgs, RetentionScheduleArgs, RetentionSettings, RunArgs,
};
use crate::{
    db::{Backend, Db, Freshness},
    gdpr::audit::{self, NewEvent, Origin},
    jobs::{JobLock, Wait},
    storage::Storage,
};

/// The advisory lock key of retention runs ("retain" in ASCII).
pub const LOCK_KEY: i64 = 0x7265_7461_696e;

/// How long a scheduled run waits for another replica's.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// The most calls one run archives per organization (one object in
/// memory); the next run takes the rest.
pub const MAX_CALLS_PER_RUN: usize = 200_000;

/// The audit action of a run in one organization.
pub const AUDIT_ACTION: &str = "retention.run";

/// The audit action of a run that failed in one organization.
pub const AUDIT_FAILED: &str = "retention.failed";

/// Where one run at a time is ensured.
#[derive(Debug, Clone)]
pub enum LockPlace {
    /// A Postgres advisory lock on this database.
    Postgres(String),
    /// A file lock (the embedded SQLite database).
    File(PathBuf),
}

impl LockPlace {
    /// The place for `db`: Postgres at `url`, else `DATA_DIR/retention.lock`.
    pub fn of(db: &Db, url: Option<&str>, data_dir: &Path) -> Self {
        match (db.backend(), url) {
            (Backend::Postgres, Some(url)) => Self::Postgres(url.to_owned()),
            _ => Self::File(data_dir.join("retention.lock")),
        }
    }

    /// The lock, or `None` when another run held it for all of `wait`
    /// (the file lock never waits).
    ///
    /// # Errors
    ///
    /// A message naming what failed.
    pub async fn take(&self, wait: Wait) -> Result<Option<JobLock>, String> {
        match self {
            Self::Postgres(url) => JobLock::postgres(url, LOCK_KEY, wait)
                .await
                .map_err(|err| format!("cannot take the retention lock: {err}")),
            Self::File(path) => {
                JobLock::file(path).map_err(|err| format!("cannot lock {}: {err}", path.display()))
            }
        }
    }
}

/// The retention job: the database, the archive store, the policy.
#[derive(Debug, Clone)]
pub struct Retention {
    db: Db,
    storage: Storage,
    settings: RetentionSettings,
    lock: LockPlace,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// It ran (some organizations may have failed: [`RunReport::failed`]).
    Ran(RunReport),
    /// Another run held the lock: nothing was done.
    Skipped,
}

impl Retention {
    /// The job over `db`, archiving to `storage`.
    pub fn new(db: Db, storage: Storage, settings: RetentionSettings, lock: LockPlace) -> Self {
        Self {
            db,
            storage,
            settings,
            lock,
        }
    }

    /// The archive store.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// One run at `now`, unless another holds the lock (the command: it
    /// does not wait). `progress` is called before each organization with
    /// its index and the count.
    ///
    /// # Errors
    ///
    /// The lock or the list of organizations cannot be had; a failure in
    /// one organization is in its [`OrgReport::error`] instead.
    pub async fn run(
        &self,
        now: i64,
        dry_run: bool,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<Outcome, String> {
        let Some(lock) = self.lock.take(Wait::No).await? else {
            return Ok(Outcome::Skipped);
        };
        let result = self.run_locked(now, dry_run, progress).await;
        lock.release().await;
        result
    }

    /// The scheduled run of the slot at `slot` (Unix seconds), as the
    /// backup's: waits for a replica that holds the lock (on Postgres), then
    /// skips when a run at or after `slot` is in the audit log already.
    ///
    /// # Errors
    ///
    /// As [`Self::run`].
    pub async fn run_slot(&self, slot: i64) -> Result<Outcome, String> {
        let Some(lock) = self.lock.take(Wait::Up(LOCK_WAIT)).await? else {
            return Ok(Outcome::Skipped);
        };
        let result = match self.last_success().await {
            Ok(last) if last >= slot => Ok(Outcome::Skipped),
            Ok(_) => self.run_locked(crate::db::now(), false, |_, _, _| {}).await,
            Err(err) => Err(format!("cannot read the last retention run: {err}")),
        };
        lock.release().await;
        result
    }

    async fn run_locked(
        &self,
        now: i64,
        dry_run: bool,
        mut progress: impl FnMut(usize, usize, &str),
    ) -> Result<Outcome, String> {
        let orgs = self
            .organizations()
            .await
            .map_err(|err| format!("cannot list the organizations: {err}"))?;
        let cut = self.settings.cutoffs(now);
        let mut report = RunReport {
            at: now,
            dry_run,
            orgs: Vec::with_capacity(orgs.len()),
        };
        for (index, org) in orgs.iter().enumerate() {
            progress(index, orgs.len(), org);
            let mut org_report = OrgReport::new(org);
            let result = if dry_run {
                self.count(org, cut, &mut org_report).await
            } else {
                self.apply(org, cut, now, &mut org_report).await
            };
            if let Err(err) = result {
                tracing::error!(organization = %org, error = %err, "retention failed in an organization");
                org_report.error = Some(err);
                if !dry_run {
                    self.audit(org, AUDIT_FAILED, &org_report, now).await.ok();
                }
            }
            report.orgs.push(org_report);
        }
        progress(orgs.len(), orgs.len(), "");
        Ok(Outcome::Ran(report))
    }

    /// Every organization, from `organization_ids` (migration 0005): the
    /// table of ids without row-level security (an organization's rows are
    /// not visible to the app's role outside its own transaction). Not
    /// `user_logins`: an organization whose users were all erased has no
    /// login left, yet keeps its calls.
    async fn organizations(&self) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query("SELECT organization_id FROM organization_ids ORDER BY 1")
            .fetch_all(self.db.primary())
            .await?;
        rows.iter().map(|row| row.try_get::<String, _>(0)).collect()
    }

    /// `--dry-run`: what [`Self::apply`] would do.
    async fn count(&self, org: &str, cut: Cutoffs, out: &mut OrgReport) -> Result<(), String> {
        let counts = [
            (
                "SELECT COUNT(*) FROM calls WHERE organization_id = $1 AND started_at < $2 AND $3 = $3",
                cut.calls,
                0,
            ),
            (
                "SELECT COUNT(*) FROM call_dispositions d JOIN calls c ON c.id = d.call_id \
                 WHERE d.organization_id = $1 AND d.updated_at < $2 AND c.started_at >= $3 \
                 AND NOT (d.notes = '[ANONYMIZED]' AND d.custom_fields = '{}')",
                cut.dispositions,
                cut.calls,
            ),
            (
                "SELECT COUNT(*) FROM call_sessions s WHERE s.organization_id = $1 \
                 AND s.ended_at IS NOT NULL AND s.ended_at < $2 AND NOT EXISTS \
                 (SELECT 1 FROM calls c WHERE c.session_id = s.id AND c.started_at >= $3)",
                cut.sessions,
                cut.calls,
            ),
            (
                "SELECT COUNT(*) FROM call_sessions s WHERE s.organization_id = $1 \
                 AND s.ended_at IS NOT NULL AND s.ended_at < $2 AND EXISTS \
                 (SELECT 1 FROM calls c WHERE c.session_id = s.id AND c.started_at >= $3)",
                cut.sessions,
                cut.calls,
            ),
        ];
        let owned = org.to_owned();
        let [calls, dispositions, sessions, held] = self
            .db
            .read(org, Freshness::Latest, |tx| {
                let org = owned.clone();
                Box::pin(async move {
                    let mut found = [0; 4];
                    for (n, (sql, a, b)) in found.iter_mut().zip(counts) {
                        *n = sqlx::query_scalar::<_, i64>(sql)
                            .bind(org.clone())
                            .bind(a)
                            .bind(b)
                            .fetch_one(&mut **tx)
                            .await?;
                    }
                    Ok(found)
                })
            })
            .await
            .map_err(db_error)?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        out.calls_archived = count(calls);
        out.calls_deleted = count(calls);
        out.dispositions_anonymized = count(dispositions);
        out.sessions_deleted = count(sessions);
        out.sessions_held = count(held);
        Ok(())
    }

    /// Archives, deletes and anonymizes what is due in `org`.
    async fn apply(
        &self,
        org: &str,
        cut: Cutoffs,
        now: i64,
        out: &mut OrgReport,
    ) -> Result<(), String> {
        let batch = i64::from(self.settings.batch_size);
        // 1. Archive the calls due, and prove the copy.
        let archive = archive::collect(&self.db, org, cut, batch).await?;
        if !archive.ids.is_empty() {
            let stored = archive::store(&self.storage, org, now, &archive).await?;
            out.calls_archived = archive.ids.len() as u64;
            out.archive = Some(stored);
            // 2. Delete them, a batch per transaction.
            for chunk in archive.ids.chunks(self.settings.batch_size as usize) {
                let placeholders: Vec<String> =
                    (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "DELETE FROM calls WHERE organization_id = $1 AND id IN ({})",
                    placeholders.join(", ")
                );
                let mut tx = self.db.write_tx(org).await.map_err(db_error)?;
                // Only placeholders are formatted in; the ids are bound.
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(org);
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                out.calls_deleted += query
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                tx.commit().await.map_err(db_error)?;
            }
        }
        // 3. Anonymize the old dispositions of the calls kept.
        out.dispositions_anonymized = self
            .batches(
                org,
                "UPDATE call_dispositions SET notes = '[ANONYMIZED]', custom_fields = '{}' \
                 WHERE organization_id = $1 AND call_id IN (SELECT call_id FROM call_dispositions \
                 WHERE organization_id = $1 AND updated_at < $2 \
                 AND NOT (notes = '[ANONYMIZED]' AND custom_fields = '{}') LIMIT $3)",
                cut.dispositions,
                batch,
            )
            .await?;
        // 4. Delete the old sessions no call references any more.
        out.sessions_deleted = self
            .batches(
                org,
                "DELETE FROM call_sessions WHERE organization_id = $1 AND id IN \
                 (SELECT s.id FROM call_sessions s WHERE s.organization_id = $1 \
                 AND s.ended_at IS NOT NULL AND s.ended_at < $2 \
                 AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.session_id = s.id) LIMIT $3)",
                cut.sessions,
                batch,
            )
            .await?;
        let owned = org.to_owned();
        let held: i64 = self
            .db
            .read(org, Freshness::Latest, |tx| {
                let org = owned.clone();
                Box::pin(async move {
                    sqlx::query_scalar(
                        "SELECT COUNT(*) FROM call_sessions s WHERE s.organization_id = $1 \
                         AND s.ended_at IS NOT NULL AND s.ended_at < $2 \
                         AND EXISTS (SELECT 1 FROM calls c WHERE c.session_id = s.id)",
                    )
                    .bind(org)
                    .bind(cut.sessions)
                    .fetch_one(&mut **tx)
                    .await
                })
            })
            .await
            .map_err(db_error)?;
        out.sessions_held = u64::try_from(held).unwrap_or(0);
        self.audit(org, AUDIT_ACTION, out, now).await
    }

    /// Runs `sql` (binding the organization, `cutoff` and `batch`) in its
    /// own transaction until it changes fewer than `batch` rows.
    async fn batches(
        &self,
        org: &str,
        sql: &'static str,
        cutoff: i64,
        batch: i64,
    ) -> Result<u64, String> {
        let mut total = 0;
        loop {
            let mut tx = self.db.write_tx(org).await.map_err(db_error)?;
            let changed = sqlx::query(sql)
                .bind(org)
                .bind(cutoff)
                .bind(batch)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
            tx.commit().await.map_err(db_error)?;
            total += changed;
            if changed < u64::try_from(batch).unwrap_or(u64::MAX) {
                return Ok(total);
            }
        }
    }

    async fn audit(
        &self,
        org: &str,
        action: &'static str,
        report: &OrgReport,
        now: i64,
    ) -> Result<(), String> {
        let mut tx = self.db.write_tx(org).await.map_err(db_error)?;
        audit::record(
            &mut tx,
            NewEvent {
                org_id: org,
                actor_id: None,
                action,
                target_type: "organization",
                target_id: Some(org),
                details: json!({
                    "sessions_deleted": report.sessions_deleted,
                    "sessions_held": report.sessions_held,
                    "calls_archived": report.calls_archived,
                    "calls_deleted": report.calls_deleted,
                    "dispositions_anonymized": report.dispositions_anonymized,
                    "archive": report.archive.as_ref().map(|a| json!({
                        "object": a.name, "sha256": a.sha256, "bytes": a.size,
                    })),
                    "error": report.error,
                }),
            },
            &Origin::system(),
            now,
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    /// When a run last succeeded in any organization, from the audit log
    /// (0: never).
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn last_success(&self) -> Result<i64, sqlx::Error> {
        let mut newest = 0;
        for org in self.organizations().await? {
            let at: Option<i64> = self
                .db
                .read(&org, Freshness::Latest, |tx| {
                    let org = org.clone();
                    Box::pin(async move {
                        sqlx::query_scalar(
                            "SELECT MAX(created_at) FROM audit_events \
                             WHERE organization_id = $1 AND action = $2",
                        )
                        .bind(org)
                        .bind(AUDIT_ACTION)
                        .fetch_one(&mut **tx)
                        .await
                    })
                })
                .await?;
            newest = newest.max(at.unwrap_or(0));
        }
        Ok(newest)
    }
}

#[allow(clippy::needless_pass_by_value, reason = "used as map_err(db_error)")]
fn db_error(err: sqlx::Error) -> String {
    format!("database: {err}")
}

/// `operator-demo retention run`.
///
/// # Errors
///
/// A setting that cannot be used, or a run that failed (in any
/// organization): exit status 1.
pub async fn command(args: RetentionArgs) -> Result<(), crate::Error> {
    let RetentionAction::Run(args) = args.action;
    let config_error =
        |variable: &'static str| move |message: String| crate::Error::Config { variable, message };
    let storage = args
        .settings
        .storage(&args.data_dir)
        .map_err(config_error("ARCHIVE_URL"))?;
    let db = crate::commands::connect(&crate::commands::db_config(&args.data_dir, &args.database)?)
        .await?;
    if db.backend() == Backend::Sqlite {
        db.migrate_up()
            .await
            .map_err(|err| config_error("DATABASE_URL")(err.to_string()))?;
    }
    let lock = LockPlace::of(&db, args.database.database_url.as_deref(), &args.data_dir);
    let retention = Retention::new(db.clone(), storage, args.settings.clone(), lock);
    let now = args.now.unwrap_or_else(crate::db::now);
    let bar = report::Progress::new();
    let outcome = retention
        .run(now, args.dry_run, |index, total, org| {
            bar.set(index, total, org)
        })
        .await;
    bar.finish();
    db.close().await;
    match outcome.map_err(crate::Error::Retention)? {
        Outcome::Skipped => {
            report::print_line("retention run skipped: another run holds the lock");
            Ok(())
        }
        Outcome::Ran(report) => {
            report.print();
            match report.failed() {
                0 => Ok(()),
                failed => Err(crate::Error::Retention(format!(
                    "{failed} organization(s) failed, nothing was deleted in them: {}",
                    report
                        .orgs
                        .iter()
                        .find_map(|o| o.error.as_deref())
                        .unwrap_or_default()
                ))),
            }
        }
    }
}
