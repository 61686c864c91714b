//! GDPR: the audit log, a user's export, erasure after a grace period, and
//! privacy settings (docs/compliance.md).
//!
//! - [`audit`]: `audit_events`, one row per GDPR and admin action, written
//!   in the action's own transaction; append-only for the app's role on
//!   Postgres.
//! - [`erase`]: what erasure does to each table, the job that runs it in
//!   the server once a grace period is over, and `operator-demo gdpr purge`.
//! - [`GdprArgs`]: `GDPR_GRACE_DAYS`, `GDPR_PURGE_INTERVAL_SECS`,
//!   `AUDIT_HASH_KEY`, `SMTP_URL`, `MAIL_FROM`.
//! - [`UserHasher`]: the keyed one-way hash that replaces an erased user's
//!   id in the audit trail.
//!
//! # Example
//!
//! ```
//! use operator_demo::gdpr::{UserHasher, rfc3339};
//!
//! let hasher = UserHasher::new(b"a server secret of at least 32 bytes!".to_vec());
//! let hash = hasher.hash("0190d6f2-7b7c-7cc0-8f5e-1a2b3c4d5e6f");
//! assert!(hash.starts_with("erased:") && !hash.contains("0190d6f2"));
//! assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
//! ```

pub mod audit;
pub mod erase;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::mail::{self, DEFAULT_MAIL_FROM, Mailer};

/// The file in `DATA_DIR` that keeps the audit hash key when
/// `AUDIT_HASH_KEY` is not set.
pub const HASH_KEY_FILE: &str = "audit-hash.key";

/// The settings live in [`config::gdpr`](crate::config::gdpr); what they
/// build is here.
pub use crate::config::gdpr::GdprArgs;

impl GdprArgs {
    /// The hasher: `AUDIT_HASH_KEY`, else the key file in `data_dir`
    /// (created, mode 0600, when missing).
    ///
    /// # Errors
    ///
    /// `(variable, message)`: a key shorter than 32 bytes, a key file that
    /// cannot be read or written.
    pub fn hasher(&self, data_dir: &Path) -> Result<UserHasher, (&'static str, String)> {
        if let Some(key) = self.audit_hash_key.as_deref().filter(|k| !k.is_empty()) {
            if key.len() < 32 {
                return Err(("AUDIT_HASH_KEY", "must be at least 32 bytes".into()));
            }
            return Ok(UserHasher::new(key.as_bytes().to_vec()));
        }
        key_file(&data_dir.join(HASH_KEY_FILE))
            .map(UserHasher::new)
            .map_err(|err| {
                (
                    "AUDIT_HASH_KEY",
                    format!("{HASH_KEY_FILE} in DATA_DIR: {err}"),
                )
            })
    }

    /// Everything the handlers and the job need.
    ///
    /// # Errors
    ///
    /// `(variable, message)` naming the setting at fault.
    pub fn build(
        &self,
        data_dir: &Path,
        frontend_url: &str,
    ) -> Result<Gdpr, (&'static str, String)> {
        Ok(Gdpr {
            grace: Duration::from_secs(u64::from(self.grace_days) * 86_400),
            hasher: self.hasher(data_dir)?,
            mailer: mail::from_settings(self.smtp_url.as_deref(), &self.mail_from, data_dir)?,
            frontend_url: frontend_url.trim_end_matches('/').to_owned(),
        })
    }
}

/// Reads the key file, or writes a new random key there.
fn key_file(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => {
            return Err(std::io::Error::other("shorter than 32 bytes"));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let key = hex::encode(rand::random::<[u8; 32]>()).into_bytes();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, &key)?;
            Ok(key)
        }
        // Another process wrote it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path),
        Err(err) => Err(err),
    }
}

/// The keyed one-way hash (HMAC-SHA256) of a user id: what the audit trail
/// keeps of an erased user. Without the key, ids cannot be tried against it.
#[derive(Clone)]
pub struct UserHasher {
    key: Arc<Vec<u8>>,
}

impl fmt::Debug for UserHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserHasher(..)")
    }
}

impl UserHasher {
    /// A hasher with `key`.
    pub fn new(key: Vec<u8>) -> Self {
        Self { key: Arc::new(key) }
    }

    /// A hasher with a random key: for tests and [`AppState::new`](crate::app::AppState::new).
    pub fn random() -> Self {
        Self::new(rand::random::<[u8; 32]>().to_vec())
    }

    /// `erased:` and the hex HMAC-SHA256 of `user_id`.
    pub fn hash(&self, user_id: &str) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(user_id.as_bytes());
        format!("erased:{}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// What the GDPR handlers and the erasure job share.
#[derive(Debug, Clone)]
pub struct Gdpr {
    /// How long after a deletion request the account is erased.
    pub grace: Duration,
    /// The audit trail's hash of erased users.
    pub hasher: UserHasher,
    /// Where the confirmation mail goes.
    pub mailer: Arc<dyn Mailer>,
    /// The front end's origin, for the cancel link.
    pub frontend_url: String,
}

impl Gdpr {
    /// The defaults: 30 days, a random hash key, mail into `data_dir/mail`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let from = DEFAULT_MAIL_FROM
            .parse()
            .unwrap_or_else(|_| unreachable!("the default sender parses"));
        Self {
            grace: Duration::from_secs(30 * 86_400),
            hasher: UserHasher::random(),
            mailer: Arc::new(mail::FolderMailer::new(data_dir.into().join("mail"), from)),
            frontend_url: "http://localhost:5173".into(),
        }
    }
}

/// Unix seconds as an RFC 3339 UTC time, `1970-01-01T00:00:00Z`.
///
/// ```
/// assert_eq!(operator_demo::gdpr::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
/// ```
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_across_leap_years() {
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn the_hash_depends_on_the_key() {
        let a = UserHasher::new(vec![1; 32]).hash("u");
        let b = UserHasher::new(vec![2; 32]).hash("u");
        assert_ne!(a, b);
        assert_eq!(a, UserHasher::new(vec![1; 32]).hash("u"));
    }

    #[test]
    fn a_short_key_is_refused_and_the_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let args = GdprArgs {
            audit_hash_key: Some("short".into()),
            ..GdprArgs::default()
        };
        assert_eq!(args.hasher(dir.path()).unwrap_err().0, "AUDIT_HASH_KEY");
        let args = GdprArgs::default();
        let one = args.hasher(dir.path()).unwrap().hash("u");
        let two = args.hasher(dir.path()).unwrap().hash("u");
        assert_eq!(one, two, "the key file is read back");
        std::fs::write(dir.path().join(HASH_KEY_FILE), b"tiny").unwrap();
        assert!(args.hasher(dir.path()).is_err());
    }
}
