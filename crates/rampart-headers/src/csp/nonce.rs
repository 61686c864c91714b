//! The per-request CSP nonce.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;

/// Bytes of randomness in a nonce: 128 bits, as the CSP spec recommends.
const NONCE_BYTES: usize = 16;
/// Length of those bytes in padded base64.
const NONCE_LEN: usize = 24;

/// The nonce of one response's Content Security Policy: 16 random bytes from
/// the operating system's CSPRNG (via `rand`'s thread-local generator),
/// base64-encoded.
///
/// [`SecurityHeadersLayer`](crate::SecurityHeadersLayer) puts it in the
/// request's extensions before calling the handler, so that a template can
/// write `<script nonce="{{ nonce }}">`; the same value is in the response's
/// policy. It is `Copy` and holds no heap memory.
///
/// # Example
///
/// ```
/// use rampart_headers::CspNonce;
///
/// let a = CspNonce::generate();
/// let b = CspNonce::generate();
/// assert_ne!(a, b);
/// assert_eq!(a.as_str().len(), 24);
///
/// // In a handler (axum): `Extension(nonce): Extension<CspNonce>`, or
/// let request = http::Request::new(());
/// let nonce: Option<&CspNonce> = request.extensions().get::<CspNonce>();
/// # let _ = nonce;
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CspNonce {
    text: [u8; NONCE_LEN],
}

impl CspNonce {
    /// A fresh nonce.
    pub fn generate() -> Self {
        let mut raw = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut raw);
        let mut text = [0u8; NONCE_LEN];
        // 16 bytes always encode to exactly 24 characters.
        let _ = STANDARD.encode_slice(raw, &mut text);
        Self { text }
    }

    /// The base64 text, as written in `'nonce-…'` and in the `nonce` attribute.
    pub fn as_str(&self) -> &str {
        // Base64 output is ASCII.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }
}

impl fmt::Display for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CspNonce").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_base64_of_16_bytes_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let nonce = CspNonce::generate();
            let raw = STANDARD.decode(nonce.as_str()).unwrap();
            assert_eq!(raw.len(), 16);
            assert!(seen.insert(nonce));
        }
    }
}
