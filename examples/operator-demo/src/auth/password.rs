//! Password hashing: argon2id with OWASP's parameters, in PHC string form.
//!
//! Hashing and verifying cost tens of milliseconds of one core and 19 MiB
//! each, on purpose: the app calls them through
//! [`PasswordPool`](super::PasswordPool), which runs them on the blocking
//! pool, a bounded number at once.
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

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{Output, ParamsString, PasswordHash, SaltString},
};

/// The longest password accepted, in bytes: argon2 takes any length, but
/// hashing a megabyte-long "password" is a cheap way to burn a server's CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The most memory a stored hash may ask for, in KiB (256 MiB): a hash
/// beyond it never verifies, rather than growing a buffer that big.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;

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
fn params() -> Params {
    Params::new(
        Params::DEFAULT_M_COST,
        Params::DEFAULT_T_COST,
        Params::DEFAULT_P_COST,
        None,
    )
    .unwrap_or_default()
}

/// The working memory of argon2id (19 MiB with the demo's parameters),
/// kept from one hash to the next: [`PasswordPool`](super::PasswordPool)
/// holds one per permit, so hashing allocates nothing and the memory it
/// takes is the permits' buffers, whatever the allocator does with freed
/// blocks. It grows to what the largest stored hash asks for (at most
/// [`MAX_MEMORY_KIB`]) and never shrinks.
///
/// ```
/// use operator_demo::auth::password::{HashMemory, hash_password_in, verify_password_in};
///
/// let mut memory = HashMemory::default();
/// let hash = hash_password_in("correct horse", &mut memory).unwrap();
/// assert_eq!(memory.bytes(), 19_456 * 1024);
/// assert!(verify_password_in("correct horse", &hash, &mut memory));
/// assert_eq!(memory.bytes(), 19_456 * 1024);
/// ```
#[derive(Debug, Default)]
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    /// The bytes it holds.
    pub fn bytes(&self) -> usize {
        self.0.len() * Block::SIZE
    }

    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
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
    hash_password_in(password, &mut HashMemory::default())
}

/// [`hash_password`], working in `memory`.
pub fn hash_password_in(password: &str, memory: &mut HashMemory) -> Result<String, PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let failed = |err: &dyn std::fmt::Display| PasswordError::Hash(err.to_string());
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|err| failed(&err))?;
    let params = params();
    let mut out = [0_u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt_bytes,
            &mut out,
            memory.blocks(&params),
        )
        .map_err(|err| failed(&err))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|err| failed(&err))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|err| failed(&err))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string `hash`. A malformed
/// hash, another algorithm, an over-long password, or a hash asking for
/// more than [`MAX_MEMORY_KIB`] is simply `false`.
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
    verify_password_in(password, hash, &mut HashMemory::default())
}

/// [`verify_password`], working in `memory`.
pub fn verify_password_in(password: &str, hash: &str, memory: &mut HashMemory) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    if params.m_cost() > MAX_MEMORY_KIB {
        return false;
    }
    let mut salt_buf = [0_u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = [0_u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let computed = Argon2::new(Algorithm::Argon2id, version, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, out, memory.blocks(&params));
    // `Output`'s equality is constant-time.
    computed.is_ok() && Output::new(out).is_ok_and(|out| out == expected)
}

/// What [`dummy_verify`] checks against: an argon2id hash, with the
/// parameters [`hash_password`] uses, of 32 random bytes that were thrown
/// away (nobody knows a password that matches). A constant, so that the
/// first unknown email costs what the next ones do.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$GyLJZmlFbpBbJ4sbtFCfSA$fgMwF8AmsWzXSjns/89L4RkVk2d/PeRUZ9tk3H28eAM";

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
    dummy_verify_in(password, &mut HashMemory::default())
}

/// [`dummy_verify`], working in `memory`.
pub fn dummy_verify_in(password: &str, memory: &mut HashMemory) -> bool {
    // The result is discarded: no password matches the dummy hash but the
    // random one nobody knows; the work is what counts.
    let _ = verify_password_in(password, DUMMY_HASH, memory);
    false
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHasher;

    use super::*;

    #[test]
    fn other_algorithms_and_garbage_never_verify() {
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw", &SaltString::encode_b64(b"0123456789abcdef").unwrap())
            .unwrap()
            .to_string();
        assert!(!verify_password("pw", &argon2i));
        // Too much memory asked for: refused without allocating it.
        let greedy = "$argon2id$v=19$m=4000000,t=1,p=1$cmFtcGFydGRlbW9zYWx0MQ$ENfb3BGdROTjCXiVE911WUEdwJg2iFp4vmBoRKM3lBI";
        let mut memory = HashMemory::default();
        assert!(!verify_password_in("test123", greedy, &mut memory));
        assert_eq!(memory.bytes(), 0);
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
    fn hashes_of_the_argon2_crate_verify_and_ours_verify_there() {
        use argon2::password_hash::PasswordVerifier;
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let mut memory = HashMemory::default();
        assert!(verify_password_in("pw", &theirs, &mut memory));
        let ours = hash_password_in("pw", &mut memory).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"pv", &parsed).is_err());
        // The cheap test hash (m = 8 KiB) in a buffer grown for 19 MiB.
        let cheap = "$argon2id$v=19$m=8,t=1,p=1$cmFtcGFydGRlbW9zYWx0MQ$ENfb3BGdROTjCXiVE911WUEdwJg2iFp4vmBoRKM3lBI";
        assert!(verify_password_in("test123", cheap, &mut memory));
        assert!(!verify_password_in("test124", cheap, &mut memory));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = hash_password("x").unwrap();
        let params = |hash: &str| hash.rsplitn(3, '$').nth(2).unwrap().to_owned();
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn longest_password_is_accepted_one_more_byte_is_not() {
        let longest = "a".repeat(MAX_PASSWORD_BYTES);
        let hash = hash_password(&longest).unwrap();
        assert!(verify_password(&longest, &hash));
        assert!(!verify_password(&format!("{longest}a"), &hash));
    }
}
