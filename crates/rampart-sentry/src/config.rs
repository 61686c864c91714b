//! Sentry's client configuration: from the environment or from code, with
//! the scrubbers installed.

use std::{borrow::Cow, fmt, time::Duration};

use sentry::{ClientOptions, types::Dsn};

use crate::{SentryConfigError, scrub};

/// Where the events go; unset or empty: Sentry is off.
pub const SENTRY_DSN: &str = "SENTRY_DSN";
/// The deployment's name (`production`, `staging`).
pub const ENVIRONMENT: &str = "ENVIRONMENT";
/// Read when [`ENVIRONMENT`] is unset.
pub const SENTRY_ENVIRONMENT: &str = "SENTRY_ENVIRONMENT";
/// The release, e.g. `operator-demo@1.4.2` or a commit hash.
pub const SENTRY_RELEASE: &str = "SENTRY_RELEASE";
/// The share of requests traced, from 0 to 1 (default 0.1).
pub const SENTRY_TRACES_SAMPLE_RATE: &str = "SENTRY_TRACES_SAMPLE_RATE";

/// The default share of requests traced.
pub const DEFAULT_TRACES_SAMPLE_RATE: f32 = 0.1;

/// Sentry's client configuration: DSN, environment, release, traces sample
/// rate, with [`scrub::before_send`] and [`scrub::before_breadcrumb`]
/// installed and `send_default_pii` off. Without a DSN Sentry is off:
/// [`init`](Self::init) binds no client and every Rampart Sentry layer
/// passes requests through untouched.
///
/// # Example
///
/// ```
/// use rampart_sentry::SentryConfig;
///
/// let config = SentryConfig::new()
///     .dsn("https://public@o1.ingest.example.com/42")
///     .environment("staging")
///     .release("operator-demo@1.4.2")
///     .traces_sample_rate(0.25);
/// let options = config.client_options().unwrap();
/// assert_eq!(options.environment.as_deref(), Some("staging"));
/// assert!(!options.send_default_pii);
/// assert!(options.before_send.is_some());
///
/// // No DSN: off.
/// assert!(!SentryConfig::new().is_enabled());
/// ```
#[derive(Clone, PartialEq)]
#[must_use]
pub struct SentryConfig {
    dsn: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    traces_sample_rate: f32,
    shutdown_timeout: Duration,
}

impl fmt::Debug for SentryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The DSN's key lets anyone send events to the project: not in logs.
        f.debug_struct("SentryConfig")
            .field("dsn", &self.dsn.as_ref().map(|_| "<set>"))
            .field("environment", &self.environment)
            .field("release", &self.release)
            .field("traces_sample_rate", &self.traces_sample_rate)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

impl Default for SentryConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SentryConfig {
    /// Off (no DSN), traces sample rate 0.1, 2 s to flush at shutdown.
    pub fn new() -> Self {
        Self {
            dsn: None,
            environment: None,
            release: None,
            traces_sample_rate: DEFAULT_TRACES_SAMPLE_RATE,
            shutdown_timeout: Duration::from_secs(2),
        }
    }

    /// From the process environment: [`SENTRY_DSN`], [`ENVIRONMENT`] (else
    /// [`SENTRY_ENVIRONMENT`]), [`SENTRY_RELEASE`],
    /// [`SENTRY_TRACES_SAMPLE_RATE`]. An unset or empty `SENTRY_DSN` means
    /// off.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let config = rampart_sentry::SentryConfig::from_env()?;
    /// let _guard = config.init()?;
    /// # Ok::<(), rampart_sentry::SentryConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, SentryConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`.
    /// Values are checked here; an error names the variable.
    ///
    /// # Example
    ///
    /// ```
    /// use rampart_sentry::SentryConfig;
    ///
    /// let config = SentryConfig::from_lookup(|name| match name {
    ///     "SENTRY_DSN" => Some("https://public@sentry.example.com/42".into()),
    ///     "ENVIRONMENT" => Some("production".into()),
    ///     _ => None,
    /// })?;
    /// assert!(config.is_enabled());
    /// assert_eq!(config.get_traces_sample_rate(), 0.1);
    /// # Ok::<(), rampart_sentry::SentryConfigError>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SentryConfigError> {
        let env = |var: &'static str, source: SentryConfigError| SentryConfigError::Env {
            var,
            source: Box::new(source),
        };
        let non_empty = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let mut config = Self::new();
        if let Some(dsn) = non_empty(SENTRY_DSN) {
            parse_dsn(&dsn).map_err(|e| env(SENTRY_DSN, e))?;
            config.dsn = Some(dsn);
        }
        config.environment = non_empty(ENVIRONMENT).or_else(|| non_empty(SENTRY_ENVIRONMENT));
        config.release = non_empty(SENTRY_RELEASE);
        if let Some(rate) = non_empty(SENTRY_TRACES_SAMPLE_RATE) {
            config.traces_sample_rate =
                parse_rate(&rate).map_err(|e| env(SENTRY_TRACES_SAMPLE_RATE, e))?;
        }
        Ok(config)
    }

    /// Sends events to `dsn` (checked by [`client_options`](Self::client_options)
    /// and [`init`](Self::init)).
    pub fn dsn(self, dsn: impl Into<String>) -> Self {
        Self {
            dsn: Some(dsn.into()),
            ..self
        }
    }

    /// The deployment's name.
    pub fn environment(self, environment: impl Into<String>) -> Self {
        Self {
            environment: Some(environment.into()),
            ..self
        }
    }

    /// The release. `sentry::release_name!()` gives the calling crate's
    /// `name@version`.
    pub fn release(self, release: impl Into<String>) -> Self {
        Self {
            release: Some(release.into()),
            ..self
        }
    }

    /// The release, if [`SENTRY_RELEASE`] or [`release`](Self::release) did
    /// not set one: `sentry::release_name!()`, or the app's own
    /// `name@version`.
    ///
    /// ```
    /// use rampart_sentry::SentryConfig;
    ///
    /// let config = SentryConfig::new()
    ///     .default_release(Some(concat!(env!("CARGO_PKG_NAME"), "@", env!("CARGO_PKG_VERSION"))));
    /// let release = config.client_options().unwrap().release.unwrap();
    /// assert!(release.starts_with("rampart-sentry@"));
    /// ```
    pub fn default_release<R: Into<String>>(self, release: Option<R>) -> Self {
        match (&self.release, release) {
            (None, Some(release)) => Self {
                release: Some(release.into()),
                ..self
            },
            _ => self,
        }
    }

    /// The share of requests traced, from 0 to 1 (checked by
    /// [`client_options`](Self::client_options)).
    pub fn traces_sample_rate(self, rate: f32) -> Self {
        Self {
            traces_sample_rate: rate,
            ..self
        }
    }

    /// How long dropping the [`SentryGuard`] waits for queued events.
    pub fn shutdown_timeout(self, timeout: Duration) -> Self {
        Self {
            shutdown_timeout: timeout,
            ..self
        }
    }

    /// Whether a DSN is set.
    pub fn is_enabled(&self) -> bool {
        self.dsn.is_some()
    }

    /// The traces sample rate as configured.
    pub fn get_traces_sample_rate(&self) -> f32 {
        self.traces_sample_rate
    }

    /// The SDK's options: checked DSN and rate, the scrubbers, no default
    /// PII.
    pub fn client_options(&self) -> Result<ClientOptions, SentryConfigError> {
        let dsn = self.dsn.as_deref().map(parse_dsn).transpose()?;
        let rate = self.traces_sample_rate;
        if !(0.0..=1.0).contains(&rate) {
            return Err(SentryConfigError::InvalidSampleRate {
                value: rate.to_string(),
            });
        }
        Ok(ClientOptions {
            dsn,
            environment: self.environment.clone().map(Cow::Owned),
            release: self.release.clone().map(Cow::Owned),
            traces_sample_rate: rate,
            send_default_pii: false,
            before_send: Some(scrub::before_send()),
            before_breadcrumb: Some(scrub::before_breadcrumb()),
            shutdown_timeout: self.shutdown_timeout,
            ..ClientOptions::default()
        })
    }

    /// Starts Sentry: binds a client (with the SDK's default integrations:
    /// panics, contexts, backtraces) to the process hub. Without a DSN binds
    /// nothing: Sentry stays off at no cost. Keep the guard alive for the
    /// life of the process; dropping it flushes queued events.
    ///
    /// # Example
    ///
    /// ```
    /// let guard = rampart_sentry::SentryConfig::new().init()?;
    /// assert!(!guard.is_enabled());
    /// # Ok::<(), rampart_sentry::SentryConfigError>(())
    /// ```
    pub fn init(&self) -> Result<SentryGuard, SentryConfigError> {
        let options = self.client_options()?;
        if options.dsn.is_none() {
            return Ok(SentryGuard { guard: None });
        }
        Ok(SentryGuard {
            guard: Some(sentry::init(options)),
        })
    }
}

fn parse_dsn(value: &str) -> Result<Dsn, SentryConfigError> {
    value.parse().map_err(
        |e: sentry::types::ParseDsnError| SentryConfigError::InvalidDsn {
            value: value.to_owned(),
            reason: e.to_string(),
        },
    )
}

fn parse_rate(value: &str) -> Result<f32, SentryConfigError> {
    value
        .parse::<f32>()
        .ok()
        .filter(|rate| (0.0..=1.0).contains(rate))
        .ok_or_else(|| SentryConfigError::InvalidSampleRate {
            value: value.to_owned(),
        })
}

/// Keeps Sentry running: dropping it flushes queued events (up to the
/// shutdown timeout) and unbinds the client. Made by [`SentryConfig::init`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// let guard = rampart_sentry::SentryConfig::new().init()?;
/// assert!(guard.flush(Some(Duration::from_secs(1))));
/// # Ok::<(), rampart_sentry::SentryConfigError>(())
/// ```
#[must_use = "dropping the guard stops Sentry"]
pub struct SentryGuard {
    guard: Option<sentry::ClientInitGuard>,
}

impl SentryGuard {
    /// Whether events are sent.
    pub fn is_enabled(&self) -> bool {
        self.guard.as_ref().is_some_and(|guard| guard.is_enabled())
    }

    /// Waits until queued events are sent or `timeout` passes (the shutdown
    /// timeout when `None`). `true` when the queue is empty; always `true`
    /// when Sentry is off.
    pub fn flush(&self, timeout: Option<Duration>) -> bool {
        self.guard.as_ref().is_none_or(|guard| guard.flush(timeout))
    }
}

impl fmt::Debug for SentryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentryGuard")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}
