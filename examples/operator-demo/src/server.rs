//! Opening the socket and serving the app until a shutdown signal.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Extension,
    http::{HeaderValue, header},
    response::Response,
};
use axum_server::{Handle, Server, tls_rustls::RustlsAcceptor};
use rampart::headers::HttpsConnection;

mod connection;

pub use connection::{
    Connection, ConnectionListener, CountRequests, Counted, CountingAcceptor, HttpArgs, PeerAddr,
    PortCloser,
};

use crate::{
    Error,
    app::{self, AppState},
    commands,
    config::{Environment, ServeArgs},
    db::{Backend, Db, DbError, RoleCheckError},
    shutdown::{self, Drain},
    tls,
};
#[cfg(feature = "telephony")]
use crate::{api::Telephony, telephony::TelephonyMetrics};

/// Creates the data folder, opens the socket, prints the URL it serves at and
/// serves until SIGTERM or Ctrl-C; then `/ready` answers 503 at once, the
/// port stays open for `SHUTDOWN_DRAIN_SECS` (every response with
/// `Connection: close`), closes, and running requests get up to
/// `SHUTDOWN_GRACE_SECS` to finish.
///
/// # Errors
///
/// An [`Error`] naming the setting at fault: `BIND_ADDR` that cannot be
/// bound, `DATA_DIR` that cannot be created, `TLS_CERT`/`TLS_KEY` that cannot
/// be loaded.
///
/// # Example
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), operator_demo::Error> {
/// use clap::Parser;
/// use operator_demo::config::Cli;
///
/// let args = Cli::parse_from(["operator-demo", "--bind", "127.0.0.1:0"]).into_serve_args();
/// operator_demo::server::serve(args).await
/// # }
/// ```
pub async fn serve(args: ServeArgs) -> Result<(), Error> {
    serve_until(args, shutdown::signal()).await
}

/// [`serve`], stopping when `stop` resolves instead of on a signal.
///
/// # Errors
///
/// As [`serve`].
///
/// # Example
///
/// ```
/// # #[tokio::main]
/// # async fn main() {
/// use clap::Parser;
/// use operator_demo::config::Cli;
///
/// let dir = tempfile::tempdir().unwrap();
/// let data_dir = dir.path().to_str().unwrap();
/// // The embedded SQLite database, whatever DATABASE_URL says.
/// let args = Cli::parse_from([
///     "operator-demo", "--bind", "127.0.0.1:0", "--data-dir", data_dir, "--database-url", "",
/// ])
/// .into_serve_args();
/// // Stops at once: the future given as `stop` is already complete.
/// operator_demo::server::serve_until(args, async {}).await.unwrap();
/// # }
/// ```
pub async fn serve_until(
    args: ServeArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    std::fs::create_dir_all(&args.data_dir).map_err(|source| Error::DataDir {
        path: args.data_dir.clone(),
        source,
    })?;
    let db = commands::connect(&commands::db_config(&args.data_dir, &args.database)?).await?;
    prepare_database(&db, &args).await?;
    let auth = args.auth.build(&args.data_dir)?;
    #[cfg(feature = "telephony")]
    let telephony_metrics = TelephonyMetrics::default();
    #[cfg(feature = "telephony")]
    let telephony = args
        .telephony
        .build(telephony_metrics.clone())
        .map_err(|err| Error::Config {
            variable: err.variable,
            message: err.message,
        })?;
    let gdpr = args
        .gdpr
        .build(&args.data_dir, &args.frontend_url)
        .map_err(|(variable, message)| Error::Config { variable, message })?;
    let purge_metrics = crate::gdpr::erase::PurgeMetrics::default();
    let hasher = gdpr.hasher.clone();
    let state = AppState::new(args.data_dir.clone())
        .with_gdpr(gdpr)
        .with_db(db.clone())
        .with_tokens(auth.issuer.clone())
        .with_passwords(auth.passwords.clone());
    #[cfg(feature = "telephony")]
    let state = state.with_telephony(Telephony::new(telephony));
    let drain = state.drain().clone();
    // The erasure job invalidates the cached answers of those it erases.
    let mut cache = None;
    let router = if args.bare {
        app::routes(state)
    } else {
        require_metrics_guard(args.environment, |name| std::env::var(name).ok())?;
        // A bad BACKUP_URL stops the start, naming it, not the 02:00 run.
        let backups = crate::backup::Backups::open(
            &args.data_dir,
            &args.database,
            &args.backup.settings,
            crate::backup::Reporter::Log,
        )?;
        if backups.backend() == Backend::Postgres
            && args.backup.schedule.next_after(0).is_some()
            && args.backup.settings.database_url.is_none()
        {
            // The app's role is filtered by row-level security: pg_dump as
            // it fails, and the alert would be the first to say so.
            tracing::warn!(
                "BACKUP_DATABASE_URL is unset: the daily backup runs as DATABASE_URL's role, \
                 which fails unless it sees every row (docs/configuration.md#backups)"
            );
        }
        let backup_metrics = crate::backup::BackupMetrics::default();
        // A bad ARCHIVE_URL stops the start, naming it, not the 03:00 run.
        let archive = args
            .retention
            .settings
            .storage(&args.data_dir)
            .map_err(|message| Error::Config {
                variable: "ARCHIVE_URL",
                message,
            })?;
        let retention = crate::retention::Retention::new(
            db.clone(),
            archive,
            args.retention.settings.clone(),
            crate::retention::LockPlace::of(
                &db,
                args.database.database_url.as_deref(),
                &args.data_dir,
            ),
        );
        let retention_metrics = crate::retention::RetentionMetrics::default();
        let stack = app::Stack::from_args(&args, &auth, Some(db.clone())).await?;
        // The business metrics are served beside the HTTP series.
        stack.metrics.with_registry(|registry| {
            #[cfg(feature = "telephony")]
            telephony_metrics.register(registry);
            purge_metrics.register(registry);
            db.register_primary_metrics(registry);
            auth.passwords.register(registry);
            if let Some(replica) = db.replica_metrics() {
                replica.register(registry);
            }
            backup_metrics.register(registry);
            retention_metrics.register(registry);
        });
        crate::retention::spawn_scheduler(retention, args.retention.schedule, retention_metrics);
        crate::backup::spawn_scheduler(backups, args.backup.schedule, backup_metrics);
        let mut state = state.with_login_limiter(stack.login_limiter.clone());
        if let Some(redis) = &stack.redis {
            state = state.with_redis(redis.clone());
        }
        cache = Some(stack.cache.handle());
        app::app(state, stack)
    };
    if args.gdpr.purge_interval_secs > 0 {
        crate::gdpr::erase::spawn_job(
            db.clone(),
            hasher,
            Duration::from_secs(args.gdpr.purge_interval_secs),
            purge_metrics.clone(),
            cache,
        );
    }

    let bind_error = |source| Error::Bind {
        addr: args.bind,
        source,
    };
    // Load the certificate before opening the port: once the port accepts
    // connections, the demo serves them.
    let tls = match args.tls() {
        Some((cert, key)) => Some(tls::load(cert, key).await?),
        None => None,
    };
    // Over TLS, every request is HTTPS: the marker lets the security headers
    // send HSTS on HTTP/1.1, whose requests carry no scheme.
    let router = match tls {
        Some(_) => router.layer(Extension(HttpsConnection)),
        None => router,
    };
    let router = router.layer(axum::middleware::map_response(close_while_draining(
        drain.clone(),
    )));
    let make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let listener = std::net::TcpListener::bind(args.bind).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let listener = ConnectionListener::new(listener, &args.http).map_err(bind_error)?;
    let closer = listener.closer();

    let handle = Handle::<PeerAddr>::new();
    let (grace, drain_for) = (args.shutdown_grace, args.shutdown_drain);
    tokio::spawn({
        let handle = handle.clone();
        async move {
            stop.await;
            // Not ready from now on; the port stays open for the drain, so
            // that a balancer polling /ready moves away before it closes.
            drain.start();
            if !drain_for.is_zero() {
                tracing::info!(
                    seconds = drain_for.as_secs(),
                    "draining: /ready answers 503"
                );
                tokio::time::sleep(drain_for).await;
            }
            tracing::info!("closing the port; running requests finish");
            closer.close(Duration::from_secs(2)).await;
            handle.graceful_shutdown(Some(grace));
        }
    });

    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = Server::<PeerAddr>::from_listener(listener).handle(handle);
    announce(scheme, local, &args);
    let served = match tls {
        Some(config) => {
            server
                .acceptor(RustlsAcceptor::new(config).acceptor(CountingAcceptor))
                .serve(make_service)
                .await
        }
        None => server.acceptor(CountingAcceptor).serve(make_service).await,
    };
    served.map_err(Error::Serve)?;
    tracing::info!("stopped");
    Ok(())
}

/// A response middleware that, once the drain has started, adds
/// `Connection: close` to every HTTP/1.1 response: the client (a load
/// balancer's pooled connection) opens its next request elsewhere instead of
/// reusing a connection that the end of the drain would close under it.
/// (HTTP/2 connections get their GOAWAY from the graceful shutdown.)
fn close_while_draining(
    drain: Arc<Drain>,
) -> impl Fn(Response) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    move |mut response: Response| {
        if drain.is_draining() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        std::future::ready(response)
    }
}

/// The variables that guard `/metrics`, any of which will do.
const METRICS_GUARDS: [&str; 2] = ["METRICS_ALLOWED_IPS", "METRICS_BASIC_AUTH_USER"];

/// In production `/metrics` (business figures, routes, error rates) must not
/// be open to whoever reaches the port: one of [`METRICS_GUARDS`] must be set
/// (a half-set basic auth is refused later, by the guard itself).
fn require_metrics_guard(
    environment: Environment,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), Error> {
    let guarded = METRICS_GUARDS
        .iter()
        .any(|name| lookup(name).is_some_and(|value| !value.trim().is_empty()));
    if environment == Environment::Production && !guarded {
        return Err(Error::Config {
            variable: "METRICS_ALLOWED_IPS",
            message: "/metrics would be open to anyone with ENVIRONMENT=production: set \
                      METRICS_ALLOWED_IPS (the scrapers' addresses) and/or \
                      METRICS_BASIC_AUTH_USER with METRICS_BASIC_AUTH_PASSWORD"
                .into(),
        });
    }
    Ok(())
}

/// SQLite: migrated here. Postgres: migrated beforehand by the owner role
/// (`operator-demo migrate up`), and the app's role must be subject to
/// row-level security unless `ALLOW_PRIVILEGED_DB_ROLE` (never in production).
async fn prepare_database(db: &Db, args: &ServeArgs) -> Result<(), Error> {
    let database_error = |err: &dyn std::fmt::Display| Error::Config {
        variable: "DATABASE_URL",
        message: err.to_string(),
    };
    match db.backend() {
        Backend::Sqlite => db.migrate_up().await.map_err(|err| database_error(&err)),
        Backend::Postgres => {
            if !db.is_migrated().await.map_err(|err| database_error(&err))? {
                return Err(database_error(
                    &"migrations are pending: run `operator-demo migrate up` as the database owner",
                ));
            }
            match db.check_role().await {
                Ok(()) => Ok(()),
                Err(
                    err @ DbError::Role {
                        source: RoleCheckError::Privileged { .. },
                        ..
                    },
                ) if args.allow_privileged_db_role => {
                    if args.environment == Environment::Production {
                        return Err(Error::Config {
                            variable: "ALLOW_PRIVILEGED_DB_ROLE",
                            message: "not allowed with ENVIRONMENT=production".into(),
                        });
                    }
                    tracing::warn!(%err, "serving with a privileged database role (ALLOW_PRIVILEGED_DB_ROLE)");
                    Ok(())
                }
                Err(DbError::Role { variable, source }) => Err(Error::Config {
                    variable,
                    message: source.to_string(),
                }),
                Err(err) => Err(database_error(&err)),
            }
        }
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the URL is the demo's one line of output for a person"
)]
fn announce(scheme: &str, local: SocketAddr, args: &ServeArgs) {
    tracing::info!(
        %local,
        data_dir = %args.data_dir.display(),
        bare = args.bare,
        "operator-demo serving"
    );
    println!("operator-demo listening on {scheme}://{local}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_needs_a_metrics_guard() {
        let none = |_: &str| None;
        let err = require_metrics_guard(Environment::Production, none)
            .unwrap_err()
            .to_string();
        for name in [
            "METRICS_ALLOWED_IPS",
            "METRICS_BASIC_AUTH_USER",
            "METRICS_BASIC_AUTH_PASSWORD",
        ] {
            assert!(err.contains(name), "{err}");
        }
        let blank = |_: &str| Some("  ".to_owned());
        assert!(require_metrics_guard(Environment::Production, blank).is_err());
        for set in METRICS_GUARDS {
            let lookup = |name: &str| (name == set).then(|| "x".to_owned());
            assert!(require_metrics_guard(Environment::Production, lookup).is_ok());
        }
        for environment in [
            Environment::Development,
            Environment::Test,
            Environment::Staging,
        ] {
            assert!(require_metrics_guard(environment, none).is_ok());
        }
    }
}
