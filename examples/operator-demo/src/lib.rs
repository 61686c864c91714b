//! operator-demo: the reference backend assembled from every Rampart crate.
//!
//! The binary is [`run_cli`]; the pieces are public so that tests and
//! benchmarks can build the same app in-process:
//!
//! - [`config`]: the command line and environment (`BIND_ADDR`, `DATA_DIR`, ...),
//!   every setting of every area, one file each;
//! - [`app`]: the state, the routes and the middleware around them;
//! - [`stack`]: the Rampart layers and their configuration;
//! - [`routes`] and [`api`]: the handlers;
//! - [`db`]: the database, its migrations and demo data;
//! - [`gdpr`] and [`mail`]: the audit log, export, erasure, privacy
//!   settings, and the mail they send;
//! - [`backup`] and [`storage`]: backups to a folder or S3, restore, verify;
//! - [`commands`]: `serve`, `migrate`, `seed`, `gdpr purge`, `backup`;
//! - [`server`]: socket, TLS, graceful shutdown;
//! - [`telemetry`], [`shutdown`], [`tls`];
//! - `telephony` (the default-on `telephony` feature): the providers and
//!   the call-session routes; without it the middleware story reads alone.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, http::Request};
//! use tower::ServiceExt;
//!
//! use operator_demo::app::{AppState, Stack, app};
//!
//! let app = app(AppState::new("./data"), Stack::default());
//! let response = app
//!     .oneshot(Request::get("/health").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(response.status(), 200);
//! # }
//! ```

use std::process::ExitCode;

use clap::Parser;

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod cache;
pub mod commands;
pub mod config;
pub mod db;
mod error;
pub mod gdpr;
pub mod jobs;
pub mod mail;
pub mod retention;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod stack;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "telephony")]
pub mod telephony;
pub mod tenancy;
pub mod timeout;
pub use config::tls;

pub use self::error::Error;

/// The whole program: parses the command line (exiting with status 2 and
/// clap's message on a bad option), sets up logging, serves, and turns an
/// error into a message on standard error and exit status 1.
///
/// # Example
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     operator_demo::run_cli()
/// }
/// ```
pub fn run_cli() -> ExitCode {
    let cli = config::Cli::parse();
    telemetry::init(cli.serve_args().log_format);
    // Bound for the whole run and flushed when dropped, on the way out.
    let _sentry = match rampart::sentry::SentryConfig::from_env().and_then(|config| {
        config
            .default_release(Some(concat!(
                env!("CARGO_PKG_NAME"),
                "@",
                env!("CARGO_PKG_VERSION")
            )))
            .init()
    }) {
        Ok(guard) => guard,
        Err(err) => {
            report(&Error::Config {
                variable: "SENTRY_*",
                message: err.to_string(),
            });
            return ExitCode::FAILURE;
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
        .and_then(|runtime| runtime.block_on(commands::run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "operator-demo failed");
            report(&err);
            ExitCode::from(err.exit_code())
        }
    }
}

#[allow(
    clippy::print_stderr,
    reason = "the last word of a failed start, even with RUST_LOG=off"
)]
fn report(err: &Error) {
    eprintln!("operator-demo: {err}");
}

// The repository's README, compiled and run as a doc test so that its
// example stays true to the crates.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
