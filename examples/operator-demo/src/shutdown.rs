//! Graceful shutdown: the signals that start it, and the drain that
//! follows (`/ready` 503 and `Connection: close` while running requests
//! finish).

use std::sync::atomic::{AtomicBool, Ordering};

/// Resolves when the process receives SIGTERM (what a container runtime or
/// systemd sends) or Ctrl-C (SIGINT). If a signal handler cannot be installed,
/// that signal is logged and ignored; the other still works.
///
/// # Example
///
/// ```no_run
/// # async fn demo() {
/// operator_demo::shutdown::signal().await;
/// println!("stopping");
/// # }
/// ```
pub async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Whether the process is draining: set once on SIGTERM (or whatever ends
/// [`serve_until`](crate::server::serve_until)'s `stop` future), never
/// cleared. While it is set `/ready` answers 503 and every response carries
/// `Connection: close`, so that a load balancer stops choosing this
/// instance and forgets its connections to it before the port closes.
///
/// # Example
///
/// ```
/// use operator_demo::shutdown::Drain;
///
/// let drain = Drain::default();
/// assert!(!drain.is_draining());
/// drain.start();
/// assert!(drain.is_draining());
/// ```
#[derive(Debug, Default)]
pub struct Drain {
    started: AtomicBool,
}

impl Drain {
    /// Starts the drain (idempotent).
    pub fn start(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// Whether [`start`](Self::start) was called.
    pub fn is_draining(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }
}
