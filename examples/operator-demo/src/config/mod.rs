//! The command line and the environment: every setting of the demo, parsed
//! and checked before anything starts. The runtime code each setting drives
//! stays in its own module; what it reads is gathered here:
//!
//! | module | settings |
//! |---|---|
//! | this one | `serve` (what it gathers from the others), the database, the client address, CORS, the rate limits, the cache's switches |
//! | [`auth`] | `JWT_*`, `ACCESS_TOKEN_TTL`, `RATE_LIMIT_LOGIN*`, `RATE_LIMIT_API`, `PASSWORD_HASH_*` |
//! | [`backup`] | `BACKUP_*` and the `backup` subcommands |
//! | [`cache`] | `CACHE_URL` |
//! | [`gdpr`] | `GDPR_*`, `AUDIT_HASH_KEY`, mail (`SMTP_URL`, `MAIL_FROM`) |
//! | [`http`] | `HTTP_*` timeouts and limits of a connection and a request |
//! | [`retention`] | `RETENTION_*`, `ARCHIVE_URL`, the `retention` subcommand |
//! | `telephony` (feature `telephony`) | `TELEPHONY_*`, `TWILIO_*`, `TELNYX_*` |
//! | [`tls`] | `TLS_CERT`, `TLS_KEY` loaded into a rustls configuration |

pub mod auth;
pub mod backup;
pub mod cache;
pub mod gdpr;
pub mod http;
pub mod retention;
#[cfg(feature = "telephony")]
pub mod telephony;
pub mod tls;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use rampart::core::{ForwardedHeader, TrustedProxies};

#[cfg(feature = "telephony")]
pub use self::telephony::TelephonyArgs;
pub use self::{
    auth::AuthArgs,
    cache::{CacheArgs, CacheUrl},
    http::HttpArgs,
};

/// `RATE_LIMIT_GLOBAL`'s default: the plan's 1000 requests an hour per
/// client address, of which 100 may come at once (not all 1000: a burst of
/// a thousand requests from one address is an attack, not a page load).
pub const DEFAULT_RATE_LIMIT_GLOBAL: &str = "1000/hour;burst=100";

/// `operator-demo [serve] [OPTIONS]`: the demo's command line. Each option can
/// also be set from the environment variable named in its help.
///
/// # Example
///
/// ```
/// use clap::Parser;
/// use operator_demo::config::Cli;
///
/// // `serve` is the default subcommand.
/// let cli = Cli::try_parse_from(["operator-demo", "--bind", "127.0.0.1:9000"]).unwrap();
/// assert_eq!(cli.serve_args().bind.port(), 9000);
/// ```
#[derive(Debug, Parser)]
#[command(
    name = "operator-demo",
    version,
    about,
    // Else clap takes this type's rustdoc, code block and all, as --help.
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The options of `serve`, accepted without the subcommand's name.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The serve options, whether they were given after `serve` or without it.
    ///
    /// ```
    /// use clap::Parser;
    /// use operator_demo::config::Cli;
    ///
    /// let cli = Cli::try_parse_from(["operator-demo", "serve", "--bind", "[::1]:0"]).unwrap();
    /// assert!(cli.serve_args().bind.is_ipv6());
    /// ```
    pub fn serve_args(&self) -> &ServeArgs {
        match &self.command {
            Some(Command::Serve(args)) => args,
            _ => &self.serve,
        }
    }

    /// Takes the serve options out of the command line.
    ///
    /// ```
    /// use clap::Parser;
    /// use operator_demo::config::Cli;
    ///
    /// let args = Cli::try_parse_from(["operator-demo"]).unwrap().into_serve_args();
    /// assert_eq!(args.bind.to_string(), "127.0.0.1:8000");
    /// ```
    pub fn into_serve_args(self) -> ServeArgs {
        match self.command {
            Some(Command::Serve(args)) => *args,
            _ => self.serve,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve(Box<ServeArgs>),
    /// Apply, revert or list the database migrations.
    Migrate(MigrateArgs),
    /// Fill the database with demo organizations, users and campaigns.
    Seed(SeedArgs),
    /// Write a new Ed25519 signing key (PKCS#8 PEM, mode 0600) to PATH.
    Keygen(KeygenArgs),
    /// GDPR jobs on demand: `gdpr purge` erases the accounts whose grace
    /// period is over (the server also does it every GDPR_PURGE_INTERVAL_SECS).
    Gdpr(GdprCommandArgs),
    /// Back up, list, restore, prune or verify backups (BACKUP_URL).
    Backup(crate::backup::BackupArgs),
    /// Read a password from the first line of standard input and print its
    /// argon2id hash (PHC string), for a user row written by hand (a new
    /// tenant's first admin: docs/runbooks/tenant-onboarding.md).
    HashPassword,
    /// Data retention on demand: `retention run [--dry-run]` archives and
    /// deletes old calls, deletes old sessions, anonymizes old dispositions
    /// (the server also does it daily at RETENTION_SCHEDULE).
    Retention(crate::retention::RetentionArgs),
}

/// Options of `gdpr`.
#[derive(Debug, Clone, Args)]
pub struct GdprCommandArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: GdprAction,
}

/// What `gdpr` does.
#[derive(Debug, Clone, Subcommand)]
pub enum GdprAction {
    /// Erase every account whose grace period is over.
    Purge(PurgeArgs),
}

/// Options of `gdpr purge`.
#[derive(Debug, Clone, Args)]
pub struct PurgeArgs {
    /// Treat this time (Unix seconds) as now: erase what is due by then.
    /// For tests and for catching up; never later than intended in production.
    #[arg(long = "now", hide = true, allow_negative_numbers = true)]
    pub now: Option<i64>,

    /// Folder of the embedded default's SQLite file and of audit-hash.key.
    #[arg(
        long = "data-dir",
        env = "DATA_DIR",
        value_name = "DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,

    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// `AUDIT_HASH_KEY` and the other GDPR settings.
    #[command(flatten)]
    pub gdpr: crate::gdpr::GdprArgs,

    /// The servers' Redis (`redis://host:port/db`), where their cache is.
    #[arg(long = "redis-url", env = "REDIS_URL", value_name = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// The servers' cache, invalidated for those erased.
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Options of `keygen`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Where to write the key; an existing file is not overwritten.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
}

/// The database: where it is, and what the app may connect as.
///
/// ```
/// use clap::Parser;
/// use operator_demo::config::Cli;
///
/// let cli = Cli::try_parse_from(["operator-demo", "--database-url", "postgres://app@db/demo"]).unwrap();
/// assert!(cli.serve_args().database.database_url.as_deref().unwrap().starts_with("postgres://"));
/// ```
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://...` or `postgres://...`. Default: the SQLite file
    /// `operator-demo.db` in DATA_DIR.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        value_name = "DATABASE_URL"
    )]
    pub database_url: Option<String>,

    /// A read replica of DATABASE_URL: reads go there, writes to DATABASE_URL.
    #[arg(
        long = "database-read-url",
        env = "DATABASE_READ_URL",
        value_name = "DATABASE_READ_URL"
    )]
    pub database_read_url: Option<String>,

    /// Milliseconds a read waits for a replica connection before it reads
    /// from DATABASE_URL instead (the replica is then skipped for a few
    /// seconds, then probed again).
    #[arg(
        long = "database-read-timeout-ms",
        env = "DATABASE_READ_TIMEOUT_MS",
        value_name = "DATABASE_READ_TIMEOUT_MS",
        default_value = "500",
        value_parser = clap::value_parser!(u64).range(10..=60_000)
    )]
    pub database_read_timeout_ms: u64,

    /// Most connections per pool.
    #[arg(
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        value_name = "DATABASE_MAX_CONNECTIONS",
        default_value = "16",
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub database_max_connections: u32,
}

/// The deployment the process runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// A developer's machine (the default).
    Development,
    /// Automated tests.
    Test,
    /// A production-like rehearsal.
    Staging,
    /// Production: no demo data, no privileged database role.
    Production,
}

/// Options of `migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// `up`, `down` or `status`.
    #[arg(value_enum)]
    pub action: MigrateAction,

    /// With `down`: revert every migration above this version (0: all).
    /// Without it, `down` reverts the latest one.
    #[arg(long = "to")]
    pub to: Option<i64>,

    /// Folder of the embedded default's SQLite file.
    #[arg(
        long = "data-dir",
        env = "DATA_DIR",
        value_name = "DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,

    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// What `migrate` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the latest migration (or down to `--to`).
    Down,
    /// List the migrations and whether each is applied.
    Status,
}

/// Options of `seed`.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Organizations to create.
    #[arg(long = "orgs", default_value = "2", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub orgs: u32,

    /// Users in each organization (`user1@example.com`, ... numbered across
    /// organizations; password `test123`; the first of each is its admin).
    #[arg(long = "users-per-org", default_value = "50", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub users_per_org: u32,

    /// Folder of the embedded default's SQLite file.
    #[arg(
        long = "data-dir",
        env = "DATA_DIR",
        value_name = "DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,

    /// Refused in `production`.
    #[arg(
        long = "environment",
        env = "ENVIRONMENT",
        value_name = "ENVIRONMENT",
        default_value = "development"
    )]
    pub environment: Environment,

    /// An argon2id PHC string to store for every seeded user instead of
    /// hashing `test123` here: the end-to-end tests give one with cheap
    /// parameters, so that a hundred logins of a debug build take seconds.
    #[arg(
        long = "password-hash",
        env = "SEED_PASSWORD_HASH",
        value_name = "SEED_PASSWORD_HASH",
        hide = true
    )]
    pub password_hash: Option<String>,

    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Options of `serve`.
///
/// ```
/// use clap::Parser;
/// use operator_demo::config::{Cli, LogFormat};
///
/// let cli = Cli::try_parse_from(["operator-demo", "serve", "--log-format", "json"]).unwrap();
/// assert_eq!(cli.serve_args().log_format, LogFormat::Json);
/// ```
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0 picks a free port).
    #[arg(
        long = "bind",
        env = "BIND_ADDR",
        value_name = "BIND_ADDR",
        default_value = "127.0.0.1:8000"
    )]
    pub bind: SocketAddr,

    /// Folder for the demo's files; created when missing.
    #[arg(
        long = "data-dir",
        env = "DATA_DIR",
        value_name = "DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,

    /// Log format on standard error.
    #[arg(
        long = "log-format",
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        default_value = "pretty"
    )]
    pub log_format: LogFormat,

    /// Certificate chain (PEM) to serve HTTPS with; needs TLS_KEY.
    #[arg(
        long = "tls-cert",
        env = "TLS_CERT",
        value_name = "TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM, PKCS#8, PKCS#1 or SEC1) of the certificate; needs TLS_CERT.
    #[arg(
        long = "tls-key",
        env = "TLS_KEY",
        value_name = "TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Proxies whose forwarding header is believed: comma-separated addresses
    /// and CIDR networks (IPv4 and IPv6). Default: none, the peer is the client.
    #[arg(
        long = "trusted-proxies",
        env = "TRUSTED_PROXIES",
        value_name = "TRUSTED_PROXIES",
        default_value = ""
    )]
    pub trusted_proxies: TrustedProxies,

    /// The header believed from a trusted proxy: x-forwarded-for or forwarded.
    #[arg(
        long = "client-ip-header",
        env = "CLIENT_IP_HEADER",
        value_name = "CLIENT_IP_HEADER",
        default_value = "x-forwarded-for"
    )]
    pub client_ip_header: ForwardedHeader,

    /// Origins allowed cross-origin, comma-separated (exact origins and
    /// patterns such as `https://*.example.com`). When unset: FRONTEND_URL
    /// and PRODUCTION_URL. Other `CORS_*` variables: docs/configuration.md.
    #[arg(
        long = "cors-allowed-origins",
        env = "CORS_ALLOWED_ORIGINS",
        value_name = "CORS_ALLOWED_ORIGINS"
    )]
    pub cors_allowed_origins: Option<String>,

    /// The front end's origin, allowed cross-origin when CORS_ALLOWED_ORIGINS is unset.
    #[arg(
        long = "frontend-url",
        env = "FRONTEND_URL",
        value_name = "FRONTEND_URL",
        default_value = "http://localhost:5173"
    )]
    pub frontend_url: String,

    /// The production front end's origin, allowed beside FRONTEND_URL.
    #[arg(
        long = "production-url",
        env = "PRODUCTION_URL",
        value_name = "PRODUCTION_URL"
    )]
    pub production_url: Option<String>,

    /// Requests per client address on every route but /health, /ready and
    /// /metrics, as `N/period` (`1000/hour`, `5/15minutes`, `100/minute;burst=20`).
    #[arg(
        long = "rate-limit-global",
        env = "RATE_LIMIT_GLOBAL",
        value_name = "RATE_LIMIT_GLOBAL",
        default_value = DEFAULT_RATE_LIMIT_GLOBAL
    )]
    pub rate_limit_global: String,

    /// Requests per client address to /health and /ready, as `N/period`:
    /// a policy of their own, apart from RATE_LIMIT_GLOBAL.
    #[arg(
        long = "rate-limit-probes",
        env = "RATE_LIMIT_PROBES",
        value_name = "RATE_LIMIT_PROBES",
        default_value = "600/minute;burst=60"
    )]
    pub rate_limit_probes: String,

    /// Redis shared by every replica for rate limits (`redis://host:port/db`).
    /// When unset, counts are kept in this process's memory.
    #[arg(long = "redis-url", env = "REDIS_URL", value_name = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// `CACHE_URL`, `CACHE_PREFIX`.
    #[command(flatten)]
    pub cache: CacheArgs,

    /// Whether the response cache serves and stores answers at all.
    #[arg(
        long = "cache-enabled",
        env = "CACHE_ENABLED",
        value_name = "CACHE_ENABLED",
        default_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub cache_enabled: bool,

    /// Seconds that running requests get to finish after SIGTERM or Ctrl-C.
    #[arg(
        long = "shutdown-grace",
        env = "SHUTDOWN_GRACE_SECS",
        value_name = "SHUTDOWN_GRACE_SECS",
        default_value = "30",
        value_parser = parse_seconds
    )]
    pub shutdown_grace: Duration,

    /// Seconds between SIGTERM and closing the port: `/ready` answers 503
    /// at once and every response carries `Connection: close`, while new
    /// requests are still served, so that a load balancer that polls
    /// `/ready` (Kubernetes, a cloud balancer) takes the instance out before
    /// it stops accepting. 0: close the port at once.
    #[arg(
        long = "shutdown-drain",
        env = "SHUTDOWN_DRAIN_SECS",
        value_name = "SHUTDOWN_DRAIN_SECS",
        default_value = "0",
        value_parser = parse_seconds
    )]
    pub shutdown_drain: Duration,

    /// Serve the same routes without the Rampart stack (for scripts/bench).
    #[arg(long = "bare", env = "RAMPART_BARE", hide = true)]
    pub bare: bool,

    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Connections: `HTTP_HEADER_READ_TIMEOUT_SECS`, `HTTP_REQUEST_TIMEOUT_SECS`,
    /// `HTTP_IDLE_TIMEOUT_SECS`, `HTTP_MAX_CONNECTIONS`.
    #[command(flatten)]
    pub http: HttpArgs,

    /// Tokens and the login and API limits (`JWT_*`, `ACCESS_TOKEN_TTL`,
    /// `RATE_LIMIT_LOGIN`, `RATE_LIMIT_API`).
    #[command(flatten)]
    pub auth: AuthArgs,

    /// The telephony providers (`TELEPHONY_*`, `TWILIO_*`, `TELNYX_*`);
    /// the simulated provider by default. Only with the `telephony` feature.
    #[cfg(feature = "telephony")]
    #[command(flatten)]
    pub telephony: TelephonyArgs,

    /// GDPR: `GDPR_GRACE_DAYS`, `GDPR_PURGE_INTERVAL_SECS`,
    /// `AUDIT_HASH_KEY`, and mail (`SMTP_URL`, `MAIL_FROM`).
    #[command(flatten)]
    pub gdpr: crate::gdpr::GdprArgs,

    /// The daily backup (`BACKUP_SCHEDULE`, `BACKUP_URL`, ...).
    #[command(flatten)]
    pub backup: crate::backup::BackupScheduleArgs,

    /// The daily retention run (`RETENTION_SCHEDULE`, `RETENTION_*`,
    /// `ARCHIVE_URL`).
    #[command(flatten)]
    pub retention: crate::retention::RetentionScheduleArgs,

    /// `development`, `test`, `staging` or `production`.
    #[arg(
        long = "environment",
        env = "ENVIRONMENT",
        value_name = "ENVIRONMENT",
        default_value = "development"
    )]
    pub environment: Environment,

    /// Serve even though the Postgres role is a superuser or has BYPASSRLS
    /// (row-level security then hides nothing). For local development only;
    /// refused in production.
    #[arg(
        long = "allow-privileged-db-role",
        env = "ALLOW_PRIVILEGED_DB_ROLE",
        value_name = "ALLOW_PRIVILEGED_DB_ROLE"
    )]
    pub allow_privileged_db_role: bool,
}

impl ServeArgs {
    /// The certificate and key paths when HTTPS is asked for.
    ///
    /// ```
    /// use clap::Parser;
    /// use operator_demo::config::Cli;
    ///
    /// let cli = Cli::try_parse_from(["operator-demo"]).unwrap();
    /// assert!(cli.serve_args().tls().is_none());
    /// ```
    pub fn tls(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.tls_cert.as_ref().zip(self.tls_key.as_ref())
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for a log collector.
    Json,
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("expected a whole number of seconds, got {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("operator-demo").chain(args.iter().copied()))
    }

    #[test]
    fn help_is_for_a_person_not_rustdoc() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        assert!(help.starts_with("The reference backend"), "{help}");
        assert!(
            !help.contains("```") && !help.contains("# Example"),
            "{help}"
        );
        assert!(help.contains("--bind"), "{help}");
    }

    #[test]
    fn defaults_serve_with_nothing_configured() {
        let cli = parse(&[]).unwrap();
        let args = cli.serve_args();
        assert_eq!(args.bind, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(args.data_dir, PathBuf::from("./data"));
        assert_eq!(args.log_format, LogFormat::Pretty);
        assert_eq!(args.shutdown_grace, Duration::from_secs(30));
        assert_eq!(args.shutdown_drain, Duration::ZERO);
        assert!(args.tls().is_none());
        assert!(!args.bare);
        assert!(args.trusted_proxies.is_empty());
        assert_eq!(args.client_ip_header, ForwardedHeader::XForwardedFor);
        let global: rampart::ratelimit::Quota = args.rate_limit_global.parse().unwrap();
        assert_eq!((global.count(), global.burst()), (1000, 100));
    }

    #[test]
    fn trusted_proxies_parse_and_bad_entries_are_named() {
        let cli = parse(&["--trusted-proxies", "10.0.0.0/8, 127.0.0.1, ::1"]).unwrap();
        assert!(
            cli.serve_args()
                .trusted_proxies
                .contains("10.1.2.3".parse().unwrap())
        );
        assert!(
            cli.serve_args()
                .trusted_proxies
                .contains("::1".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "not-an-ip", "10.0.0.1/8"] {
            let err = parse(&["--trusted-proxies", bad]).unwrap_err().to_string();
            assert!(err.contains("TRUSTED_PROXIES"), "{bad:?}: {err}");
        }
        let err = parse(&["--client-ip-header", "both"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("CLIENT_IP_HEADER"), "{err}");
    }

    #[test]
    fn serve_subcommand_and_bare_options_agree() {
        let a = parse(&["serve", "--bind", "0.0.0.0:1", "--data-dir", "/tmp/x"]).unwrap();
        let b = parse(&["--bind", "0.0.0.0:1", "--data-dir", "/tmp/x"]).unwrap();
        assert_eq!(a.serve_args().bind, b.serve_args().bind);
        assert_eq!(a.serve_args().data_dir, b.serve_args().data_dir);
    }

    #[test]
    fn bad_bind_address_names_bind_addr() {
        for bad in ["nope", "127.0.0.1", "127.0.0.1:99999", ":80", ""] {
            let err = parse(&["--bind", bad]).unwrap_err().to_string();
            assert!(err.contains("BIND_ADDR"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn tls_needs_both_files() {
        assert!(parse(&["--tls-cert", "c.pem"]).is_err());
        assert!(parse(&["--tls-key", "k.pem"]).is_err());
        let cli = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        assert!(cli.serve_args().tls().is_some());
    }

    #[test]
    fn bad_log_format_and_grace_are_rejected() {
        assert!(parse(&["--log-format", "xml"]).is_err());
        assert!(parse(&["--shutdown-grace", "-1"]).is_err());
        assert!(parse(&["--shutdown-grace", "soon"]).is_err());
    }
}
