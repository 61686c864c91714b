//! What a run did, per organization, and how the command shows it: a
//! progress bar over the organizations (indicatif, on a terminal) and a
//! summary table on standard output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// The archive object of one organization's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    /// Its name in `ARCHIVE_URL`.
    pub name: String,
    /// Its SHA-256 (as read back).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a run did in one organization (would do, with `--dry-run`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgReport {
    /// The organization.
    pub org_id: String,
    /// Sessions deleted.
    pub sessions_deleted: u64,
    /// Sessions past their period kept because calls still reference them.
    pub sessions_held: u64,
    /// Calls written to the archive.
    pub calls_archived: u64,
    /// Calls deleted (with their dispositions).
    pub calls_deleted: u64,
    /// Dispositions anonymized.
    pub dispositions_anonymized: u64,
    /// The archive object, when calls were archived.
    pub archive: Option<Archived>,
    /// Why it failed; nothing was deleted then.
    pub error: Option<String>,
}

impl OrgReport {
    pub(super) fn new(org: &str) -> Self {
        Self {
            org_id: org.to_owned(),
            ..Self::default()
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Its time (Unix seconds).
    pub at: i64,
    /// Whether it only counted.
    pub dry_run: bool,
    /// Per organization.
    pub orgs: Vec<OrgReport>,
}

impl RunReport {
    /// Organizations where it failed.
    pub fn failed(&self) -> usize {
        self.orgs.iter().filter(|o| o.error.is_some()).count()
    }

    /// The sums over the organizations, as `(action, rows)`: the labels of
    /// `retention_rows_total`.
    pub fn totals(&self) -> [(&'static str, u64); 4] {
        let sum = |f: fn(&OrgReport) -> u64| self.orgs.iter().map(f).sum();
        [
            ("session_deleted", sum(|o| o.sessions_deleted)),
            ("call_archived", sum(|o| o.calls_archived)),
            ("call_deleted", sum(|o| o.calls_deleted)),
            ("disposition_anonymized", sum(|o| o.dispositions_anonymized)),
        ]
    }

    /// The summary table.
    #[allow(clippy::print_stdout, reason = "the command's output for a person")]
    pub(super) fn print(&self) {
        let mut out = String::new();
        if self.dry_run {
            out.push_str("dry run: nothing was changed; these rows are due\n");
        }
        out.push_str(&format!(
            "{:<36}  {:>9}  {:>6}  {:>8}  {:>8}  {:>10}  {}\n",
            "organization", "sessions", "held", "archived", "deleted", "anonymized", "archive"
        ));
        for o in &self.orgs {
            let archive = match (&o.error, &o.archive) {
                (Some(err), _) => format!("FAILED: {err}"),
                (None, Some(a)) => format!("{} ({} bytes)", a.name, a.size),
                (None, None) => "-".into(),
            };
            out.push_str(&format!(
                "{:<36}  {:>9}  {:>6}  {:>8}  {:>8}  {:>10}  {}\n",
                o.org_id,
                o.sessions_deleted,
                o.sessions_held,
                o.calls_archived,
                o.calls_deleted,
                o.dispositions_anonymized,
                archive
            ));
        }
        let sum = |f: fn(&OrgReport) -> u64| self.orgs.iter().map(f).sum::<u64>();
        out.push_str(&format!(
            "{:<36}  {:>9}  {:>6}  {:>8}  {:>8}  {:>10}  {} organization(s), {} failed\n",
            "total",
            sum(|o| o.sessions_deleted),
            sum(|o| o.sessions_held),
            sum(|o| o.calls_archived),
            sum(|o| o.calls_deleted),
            sum(|o| o.dispositions_anonymized),
            self.orgs.len(),
            self.failed()
        ));
        print!("{out}");
    }
}

/// A bar over the organizations on a terminal, nothing otherwise.
#[derive(Debug)]
pub(super) struct Progress(Option<ProgressBar>);

impl Progress {
    pub(super) fn new() -> Self {
        Self(std::io::stderr().is_terminal().then(|| {
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template("retention {msg:36} [{bar:30}] {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            )
        }))
    }

    pub(super) fn set(&self, index: usize, total: usize, org: &str) {
        if let Some(bar) = &self.0 {
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(org.to_owned());
        }
    }

    pub(super) fn finish(self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// One line on standard output.
#[allow(clippy::print_stdout, reason = "the command's output for a person")]
pub(super) fn print_line(text: &str) {
    println!("{text}");
}
