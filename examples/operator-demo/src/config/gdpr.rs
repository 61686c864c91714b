//! `GDPR_*`, `AUDIT_HASH_KEY`, and mail (`SMTP_URL`, `MAIL_FROM`). What they
//! build (the hasher, the mailer) is [`crate::gdpr`] and [`crate::mail`].

use clap::Args;

use crate::mail::DEFAULT_MAIL_FROM;

/// The GDPR settings.
///
/// ```
/// use clap::Parser;
/// use operator_demo::config::Cli;
///
/// let cli = Cli::try_parse_from(["operator-demo"]).unwrap();
/// assert_eq!(cli.serve_args().gdpr.grace_days, 30);
/// ```
#[derive(Debug, Clone, Args)]
pub struct GdprArgs {
    /// Days between a deletion request and the erasure; the user may cancel
    /// meanwhile, and can still log in. 0 erases at the next job run.
    #[arg(
        long = "gdpr-grace-days",
        env = "GDPR_GRACE_DAYS",
        value_name = "GDPR_GRACE_DAYS",
        default_value = "30",
        value_parser = clap::value_parser!(u32).range(0..=3650)
    )]
    pub grace_days: u32,

    /// Seconds between two runs of the erasure job in the server; 0 runs
    /// none (erase with `operator-demo gdpr purge` from cron instead).
    #[arg(
        long = "gdpr-purge-interval-secs",
        env = "GDPR_PURGE_INTERVAL_SECS",
        value_name = "GDPR_PURGE_INTERVAL_SECS",
        default_value = "3600",
        value_parser = clap::value_parser!(u64).range(0..=604_800)
    )]
    pub purge_interval_secs: u64,

    /// The secret (at least 32 characters) of the keyed hash that replaces
    /// an erased user's id in the audit log. The same on every replica.
    /// When unset: DATA_DIR/audit-hash.key, created on first use.
    #[arg(
        long = "audit-hash-key",
        env = "AUDIT_HASH_KEY",
        value_name = "AUDIT_HASH_KEY",
        hide_env_values = true
    )]
    pub audit_hash_key: Option<String>,

    /// The SMTP server mail goes through (`smtp://host:port`,
    /// `smtps://user:password@host`). When unset, mail is written to
    /// DATA_DIR/mail and its path logged.
    #[arg(
        long = "smtp-url",
        env = "SMTP_URL",
        value_name = "SMTP_URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,

    /// The sender of the demo's mail.
    #[arg(
        long = "mail-from",
        env = "MAIL_FROM",
        value_name = "MAIL_FROM",
        default_value = DEFAULT_MAIL_FROM
    )]
    pub mail_from: String,
}

impl Default for GdprArgs {
    fn default() -> Self {
        Self {
            grace_days: 30,
            purge_interval_secs: 3600,
            audit_hash_key: None,
            smtp_url: None,
            mail_from: DEFAULT_MAIL_FROM.to_owned(),
        }
    }
}
