//! Password hashing: argon2id with OWASP's parameters, in PHC string form.
//!
//! Hashing and verifying cost tens of milliseconds of one core each, on
//! purpose: call them from [`tokio::task::spawn_blocking`] in a handler so
//! that the runtime's workers keep serving other requests.
//!
//! # Example
//!
//! ```
//! use operator_demo::auth::password::{hash_password, verify_password};
//!
//! let hash = hash_password("correct horse").unwrap();
//! assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
//! assert!(verify_password("correct horse", &hash));
//! assert!(!verify_password("battery staple", &hash));
//! ```

use std::sync::LazyLock;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};

/// The longest password accepted, in bytes: argon2 takes any length, but
/// hashing a megabyte-long "password" is a cheap way to burn a server's CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is longer than [`MAX_PASSWORD_BYTES`].
    #[error("a password is at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    /// argon2 failed (it does not with these parameters; kept rather than a panic).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// argon2id, version 0x13, m = 19 MiB, t = 2, p = 1: the first of OWASP's
/// recommended settings (Password Storage Cheat Sheet), also argon2's default.
fn hasher() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(
            Params::DEFAULT_M_COST,
            Params::DEFAULT_T_COST,
            Params::DEFAULT_P_COST,
            None,
        )
        .unwrap_or_default(),
    )
}

/// Hashes `password` with a fresh random salt into a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), ready to store.
///
/// ```
/// use operator_demo::auth::password::hash_password;
///
/// let a = hash_password("test123").unwrap();
/// let b = hash_password("test123").unwrap();
/// assert_ne!(a, b, "each hash has its own salt");
/// assert!(hash_password(&"x".repeat(2000)).is_err());
/// ```
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|err| PasswordError::Hash(err.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| PasswordError::Hash(err.to_string()))
}

/// Whether `password` matches the stored PHC string `hash`. A malformed
/// hash, another algorithm, or an over-long password is simply `false`.
///
/// The parameters come from the stored hash, so hashes made with older
/// settings keep verifying.
///
/// ```
/// use operator_demo::auth::password::{hash_password, verify_password};
///
/// let hash = hash_password("test123").unwrap();
/// assert!(verify_password("test123", &hash));
/// assert!(!verify_password("test124", &hash));
/// assert!(!verify_password("test123", "not a hash"));
/// assert!(!verify_password("test123", ""));
/// ```
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a random password, made once: what [`dummy_verify`] checks
/// against.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let secret: [u8; 16] = rand::random();
    let password: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    hash_password(&password).unwrap_or_default()
});

/// Spends the time of one [`verify_password`] and returns `false`: call it
/// when the submitted email matches no user, so that a login for an unknown
/// account takes as long as a wrong password for a known one (otherwise the
/// response time tells which emails exist).
///
/// ```
/// use operator_demo::auth::password::dummy_verify;
///
/// assert!(!dummy_verify("test123"));
/// ```
pub fn dummy_verify(password: &str) -> bool {
    // The result is discarded: no password matches the dummy hash but the
    // random one nobody knows; the work is what counts.
    let _ = verify_password(password, &DUMMY_HASH);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_algorithms_and_garbage_never_verify() {
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw", &SaltString::encode_b64(b"0123456789abcdef").unwrap())
            .unwrap()
            .to_string();
        assert!(!verify_password("pw", &argon2i));
        for bad in ["$argon2id$", "$argon2id$v=19$m=1,t=1,p=1$$", "\0", "$$$$$$"] {
            assert!(!verify_password("pw", bad), "{bad:?}");
        }
    }

    #[test]
    fn unicode_and_empty_passwords_round_trip() {
        for password in ["", "пароль", "密码🔑", " spaced "] {
            let hash = hash_password(password).unwrap();
            assert!(verify_password(password, &hash), "{password:?}");
        }
        let hash = hash_password(" spaced ").unwrap();
        assert!(!verify_password("spaced", &hash));
    }

    #[test]
    fn longest_password_is_accepted_one_more_byte_is_not() {
        let longest = "a".repeat(MAX_PASSWORD_BYTES);
        let hash = hash_password(&longest).unwrap();
        assert!(verify_password(&longest, &hash));
        assert!(!verify_password(&format!("{longest}a"), &hash));
    }
}
