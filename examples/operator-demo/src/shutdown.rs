//! Graceful shutdown: the signals that start it.

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
