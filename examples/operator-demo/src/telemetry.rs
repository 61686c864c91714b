//! Logs: `tracing` events to standard error, filtered by `RUST_LOG`, as
//! pretty lines or JSON (`LOG_FORMAT`).

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// The filter used when `RUST_LOG` is unset or empty.
pub const DEFAULT_FILTER: &str = "info,tower_http=info";

/// Installs the global subscriber. Returns `false` when one was already set
/// (a second call, or a test harness that installed its own), which is harmless.
///
/// An invalid `RUST_LOG` is reported and replaced by [`DEFAULT_FILTER`]
/// rather than stopping the server.
///
/// # Example
///
/// ```
/// use operator_demo::{config::LogFormat, telemetry};
///
/// telemetry::init(LogFormat::Json);
/// tracing::info!("logged as one JSON object per line");
/// ```
pub fn init(format: LogFormat) -> bool {
    let (filter, bad_filter) = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => match EnvFilter::try_new(&value) {
            Ok(filter) => (filter, None),
            Err(err) => (EnvFilter::new(DEFAULT_FILTER), Some((value, err))),
        },
        _ => (EnvFilter::new(DEFAULT_FILTER), None),
    };
    // Colours only on a terminal: a log file or collector gets plain text.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Pretty => builder.try_init().is_ok(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
            .is_ok(),
    };
    if let Some((value, err)) = bad_filter {
        tracing::warn!(RUST_LOG = %value, error = %err, "ignoring invalid RUST_LOG, using {DEFAULT_FILTER:?}");
    }
    installed
}
