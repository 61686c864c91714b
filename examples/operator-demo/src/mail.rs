//! Outgoing mail through one trait, [`Mailer`]: SMTP in production
//! ([`SmtpMailer`], lettre, `SMTP_URL`), a folder in `DATA_DIR` by default
//! ([`FolderMailer`]: one `.eml` file per message, its path logged), so
//! that `cargo run` sends nothing anywhere.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use operator_demo::mail::{FolderMailer, Mail, Mailer};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mailer = FolderMailer::new(dir.path(), "demo <no-reply@example.com>".parse().unwrap());
//! let mail = Mail { to: "ada@example.com".into(), subject: "Hello".into(), body: "Hi Ada".into() };
//! let path = mailer.send(mail).await.unwrap();
//! let text = std::fs::read_to_string(path.unwrap()).unwrap();
//! assert!(text.contains("To: ada@example.com"));
//! # }
//! ```

use std::{
    fmt,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};

/// The sender when `MAIL_FROM` is not set.
pub const DEFAULT_MAIL_FROM: &str = "operator-demo <no-reply@localhost>";

/// One plain-text message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The text body.
    pub body: String,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The message could not be built (a bad address).
    #[error("cannot build the message: {0}")]
    Build(String),
    /// The SMTP server refused it or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The folder could not be written.
    #[error("cannot write the mail folder: {0}")]
    Io(#[from] std::io::Error),
}

/// What [`Mailer::send`] returns: where the message went (the file of a
/// [`FolderMailer`], nothing for SMTP).
pub type SendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<PathBuf>, MailError>> + Send + 'a>>;

/// Sends mail. Implemented by [`SmtpMailer`] and [`FolderMailer`].
pub trait Mailer: fmt::Debug + Send + Sync {
    /// Sends `mail`.
    fn send(&self, mail: Mail) -> SendFuture<'_>;
}

fn message(from: &Mailbox, mail: &Mail) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|err| MailError::Build(format!("recipient: {err}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|err| MailError::Build(err.to_string()))
}

/// Mail through an SMTP server (`SMTP_URL`: `smtp://host:port`,
/// `smtps://user:pass@host`, `smtp://host?tls=required`; lettre's URL form).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for SmtpMailer {
    // The transport's Debug would show the credentials of the URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the server at `url`, sending as `from`.
    ///
    /// # Errors
    ///
    /// The URL is not one lettre understands.
    ///
    /// ```
    /// use operator_demo::mail::SmtpMailer;
    ///
    /// let from = "demo <no-reply@example.com>".parse().unwrap();
    /// assert!(SmtpMailer::from_url("smtp://127.0.0.1:2525", from).is_ok());
    /// let from = "demo <no-reply@example.com>".parse().unwrap();
    /// assert!(SmtpMailer::from_url("http://nope", from).is_err());
    /// ```
    pub fn from_url(url: &str, from: Mailbox) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        Ok(Self { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) -> SendFuture<'_> {
        Box::pin(async move {
            let message = message(&self.from, &mail)?;
            self.transport.send(message).await?;
            tracing::info!(subject = %mail.subject, "mail sent over SMTP");
            Ok(None)
        })
    }
}

/// Mail written to a folder, one `.eml` file (RFC 5322, as an SMTP server
/// would receive it) per message; the path is logged. The default without
/// `SMTP_URL`: `DATA_DIR/mail`.
#[derive(Debug, Clone)]
pub struct FolderMailer {
    dir: Arc<PathBuf>,
    from: Mailbox,
}

impl FolderMailer {
    /// Writes into `dir` (created when missing), sending as `from`.
    pub fn new(dir: impl AsRef<Path>, from: Mailbox) -> Self {
        Self {
            dir: Arc::new(dir.as_ref().to_owned()),
            from,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Mailer for FolderMailer {
    fn send(&self, mail: Mail) -> SendFuture<'_> {
        Box::pin(async move {
            let bytes = message(&self.from, &mail)?.formatted();
            tokio::fs::create_dir_all(&*self.dir).await?;
            let path = self.dir.join(format!("{}.eml", crate::db::new_id()));
            tokio::fs::write(&path, bytes).await?;
            tracing::info!(path = %path.display(), subject = %mail.subject, "mail written (no SMTP_URL)");
            Ok(Some(path))
        })
    }
}

/// The mailer the settings ask for: SMTP when `smtp_url` is set (and not
/// blank), else a [`FolderMailer`] in `data_dir/mail`.
///
/// # Errors
///
/// A message naming `MAIL_FROM` or `SMTP_URL`, as `(variable, message)`.
pub fn from_settings(
    smtp_url: Option<&str>,
    mail_from: &str,
    data_dir: &Path,
) -> Result<Arc<dyn Mailer>, (&'static str, String)> {
    let from: Mailbox = mail_from
        .parse()
        .map_err(|err| ("MAIL_FROM", format!("not a mailbox ({err}): {mail_from:?}")))?;
    match smtp_url.map(str::trim).filter(|url| !url.is_empty()) {
        Some(url) => SmtpMailer::from_url(url, from)
            .map(|mailer| Arc::new(mailer) as Arc<dyn Mailer>)
            .map_err(|err| ("SMTP_URL", err.to_string())),
        None => Ok(Arc::new(FolderMailer::new(data_dir.join("mail"), from))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_their_variable() {
        let dir = tempfile::tempdir().unwrap();
        let (variable, _) = from_settings(None, "not a mailbox", dir.path()).unwrap_err();
        assert_eq!(variable, "MAIL_FROM");
        let (variable, _) =
            from_settings(Some("ftp://x"), DEFAULT_MAIL_FROM, dir.path()).unwrap_err();
        assert_eq!(variable, "SMTP_URL");
        assert!(from_settings(Some("  "), DEFAULT_MAIL_FROM, dir.path()).is_ok());
    }

    #[tokio::test]
    async fn a_bad_recipient_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FolderMailer::new(dir.path(), DEFAULT_MAIL_FROM.parse().unwrap());
        let mail = Mail {
            to: "not an address".into(),
            subject: "s".into(),
            body: "b".into(),
        };
        assert!(matches!(mailer.send(mail).await, Err(MailError::Build(_))));
    }
}
