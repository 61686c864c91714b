//! Why the demo could not start or stopped serving; each message names the
//! setting to fix.

use std::{io, net::SocketAddr, path::PathBuf};

/// A reason the demo stopped with a non-zero exit code.
///
/// # Example
///
/// ```
/// use operator_demo::Error;
///
/// let err = Error::Bind {
///     addr: "127.0.0.1:80".parse().unwrap(),
///     source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
/// };
/// assert!(err.to_string().starts_with("cannot listen on BIND_ADDR=127.0.0.1:80"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be opened.
    #[error("cannot listen on BIND_ADDR={addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The data folder could not be created.
    #[error("cannot create DATA_DIR={}: {source}", path.display())]
    DataDir {
        /// The folder asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The certificate or key could not be loaded.
    #[error("cannot load TLS_CERT={} / TLS_KEY={}: {source}", cert.display(), key.display())]
    Tls {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// A setting has a value that cannot be used.
    #[error("invalid {variable}: {message}")]
    Config {
        /// The environment variable (or group of variables) at fault.
        variable: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The server failed while serving.
    #[error("server error: {0}")]
    Serve(#[source] io::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// A `backup` subcommand failed.
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    /// `retention run` failed (in some organization, or to start).
    #[error("retention run failed: {0}")]
    Retention(String),
}

impl Error {
    /// The process's exit status: 1, or the backup command's own
    /// ([`BackupError::exit_code`](crate::backup::BackupError::exit_code)).
    ///
    /// ```
    /// let err = operator_demo::Error::Config { variable: "X", message: "bad".into() };
    /// assert_eq!(err.exit_code(), 1);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Backup(err) => err.exit_code(),
            _ => 1,
        }
    }
}
