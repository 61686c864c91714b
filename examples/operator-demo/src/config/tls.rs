//! HTTPS: a rustls server configuration (ring provider) from PEM files.

use std::path::Path;

use axum_server::tls_rustls::RustlsConfig;

use crate::Error;

/// Loads a certificate chain and its private key (PEM) into a rustls
/// configuration that offers HTTP/2 and HTTP/1.1 by ALPN.
///
/// # Errors
///
/// [`Error::Tls`] naming both files when one cannot be read, holds no
/// certificate or key, or the key does not fit the certificate.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = operator_demo::tls::load("/nonexistent/cert.pem".as_ref(), "/nonexistent/key.pem".as_ref())
///     .await
///     .unwrap_err();
/// assert!(err.to_string().contains("TLS_CERT"));
/// # }
/// ```
pub async fn load(cert: &Path, key: &Path) -> Result<RustlsConfig, Error> {
    // Only the ring provider is compiled in (no aws-lc, no cmake); rustls picks
    // it as the process default. Installing it explicitly makes that certain
    // even if another dependency enables a second provider later.
    let _ = rustls_ring_provider();
    RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|source| Error::Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        })
}

fn rustls_ring_provider() -> bool {
    rustls::crypto::ring::default_provider()
        .install_default()
        .is_ok()
}
