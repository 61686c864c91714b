//! `HTTP_*`: what one client connection and one request may take. The
//! listener that applies them is [`crate::server::ConnectionListener`], the
//! request timeout [`crate::timeout::RequestTimeoutLayer`].

use std::time::Duration;

use clap::Args;

/// `HTTP_*`: how long a client may take and how many may be connected.
///
/// ```
/// use clap::Parser;
/// use operator_demo::config::Cli;
///
/// let cli = Cli::try_parse_from(["operator-demo", "--http-max-connections", "64"]).unwrap();
/// assert_eq!(cli.serve_args().http.max_connections, 64);
/// assert_eq!(cli.serve_args().http.header_read_timeout.as_secs(), 10);
/// ```
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Seconds a client has to send a request's line and headers, counted
    /// from its first byte (from the connection's opening for the first
    /// request, TLS handshake included); then the connection is closed.
    #[arg(
        long = "http-header-read-timeout",
        env = "HTTP_HEADER_READ_TIMEOUT_SECS",
        value_name = "HTTP_HEADER_READ_TIMEOUT_SECS",
        default_value = "10",
        value_parser = seconds
    )]
    pub header_read_timeout: Duration,

    /// Seconds a request may take from its head to its answer, body upload
    /// included: then `408` if its body had not all arrived, else `503`.
    #[arg(
        long = "http-request-timeout",
        env = "HTTP_REQUEST_TIMEOUT_SECS",
        value_name = "HTTP_REQUEST_TIMEOUT_SECS",
        default_value = "30",
        value_parser = seconds
    )]
    pub request_timeout: Duration,

    /// Seconds a keep-alive connection may wait for its next request.
    #[arg(
        long = "http-idle-timeout",
        env = "HTTP_IDLE_TIMEOUT_SECS",
        value_name = "HTTP_IDLE_TIMEOUT_SECS",
        default_value = "75",
        value_parser = seconds
    )]
    pub idle_timeout: Duration,

    /// Most client connections open at once; more wait in the accept backlog.
    #[arg(
        long = "http-max-connections",
        env = "HTTP_MAX_CONNECTIONS",
        value_name = "HTTP_MAX_CONNECTIONS",
        default_value = "512",
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub max_connections: u32,
}

/// A whole number of seconds from 1 to 3600: a timeout of 0 would close
/// every connection, and none at all is what this exists to prevent.
fn seconds(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(secs @ 1..=3600) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "expected a whole number of seconds from 1 to 3600, got {value:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_must_be_whole_seconds_in_range() {
        assert_eq!(seconds(" 5 "), Ok(Duration::from_secs(5)));
        for bad in ["0", "-1", "3601", "1.5", "soon", ""] {
            assert!(seconds(bad).is_err(), "{bad:?}");
        }
    }
}
