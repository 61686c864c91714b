//! The Ed25519 keys tokens are signed and verified with: loaded from PEM,
//! or generated once into a file and reused.
//!
//! One key signs (the current one); the verifier also accepts the public keys
//! of earlier ones, each found by its key id (`kid`), so a key can be rotated
//! without signing everybody out: sign with the new key, keep the old public
//! key in `JWT_PUBLIC_KEYS_DIR` until the last token it signed has expired.

use std::{
    fmt,
    fs::{self, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use ed25519_dalek::{
    SigningKey, VerifyingKey,
    pkcs8::{
        DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
        spki::der::pem::LineEnding,
    },
};

/// The file the embedded default keeps its signing key in, inside `DATA_DIR`.
pub const KEY_FILE_NAME: &str = "jwt-ed25519.pem";

/// Why a key could not be loaded, generated or saved. Each message names
/// where the key came from (file or variable).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A key file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// `keygen` refuses to replace a key: tokens it signed would stop verifying.
    #[error("{} exists already; remove it first to replace the key", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The text is not an Ed25519 key in PEM form.
    #[error("{origin} is not an Ed25519 {kind} key in PEM (PKCS#8 / SPKI) form")]
    InvalidPem {
        /// Where the text came from (a file or a variable).
        origin: String,
        /// `private` or `public`.
        kind: &'static str,
    },
}

/// The signing key and the public keys that tokens are verified with.
///
/// The private key never appears in `Debug` output or logs.
///
/// # Example
///
/// ```
/// use operator_demo::auth::Keys;
///
/// let old = Keys::generate();
/// let new = Keys::generate().with_public_pem(&old.public_pem(), "old.pem").unwrap();
/// assert_eq!(new.verification_kids().count(), 2);
/// assert!(new.kid().starts_with("ed25519-"));
/// assert!(!format!("{new:?}").contains("PRIVATE"));
/// ```
#[derive(Clone)]
pub struct Keys {
    signing: SigningKey,
    kid: String,
    /// Every key a token may be signed with, the current one first. Its size
    /// is set by configuration, never by a request.
    verification: Vec<(String, VerifyingKey)>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.kid)
            .field(
                "verification_kids",
                &self.verification_kids().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The key id of a public key: its first eight bytes in hex. Derived, not
/// configured, so every replica names one key alike.
fn kid_of(key: &VerifyingKey) -> String {
    let mut kid = String::from("ed25519-");
    for byte in &key.as_bytes()[..8] {
        kid.push_str(&format!("{byte:02x}"));
    }
    kid
}

impl Keys {
    /// Keys around one signing key.
    fn from_signing(signing: SigningKey) -> Self {
        let public = signing.verifying_key();
        let kid = kid_of(&public);
        Self {
            verification: vec![(kid.clone(), public)],
            signing,
            kid,
        }
    }

    /// A fresh random key (from the operating system's generator).
    ///
    /// ```
    /// use operator_demo::auth::Keys;
    ///
    /// assert_ne!(Keys::generate().kid(), Keys::generate().kid());
    /// ```
    pub fn generate() -> Self {
        let seed: [u8; 32] = rand::random();
        Self::from_signing(SigningKey::from_bytes(&seed))
    }

    /// The key in a PKCS#8 PEM text (`-----BEGIN PRIVATE KEY-----`, as
    /// `openssl genpkey -algorithm ed25519` writes). `origin` names where the
    /// text came from, for the error.
    ///
    /// ```
    /// use operator_demo::auth::Keys;
    ///
    /// let keys = Keys::generate();
    /// let again = Keys::from_private_pem(&keys.private_pem(), "JWT_PRIVATE_KEY").unwrap();
    /// assert_eq!(again.kid(), keys.kid());
    /// let err = Keys::from_private_pem("nope", "JWT_PRIVATE_KEY").unwrap_err();
    /// assert!(err.to_string().starts_with("JWT_PRIVATE_KEY is not"));
    /// ```
    pub fn from_private_pem(pem: &str, origin: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(Self::from_signing)
            .map_err(|_| KeyError::InvalidPem {
                origin: origin.to_owned(),
                kind: "private",
            })
    }

    /// The key in the PEM file at `path`.
    pub fn from_private_file(path: &Path) -> Result<Self, KeyError> {
        let pem = read(path)?;
        Self::from_private_pem(&pem, &path.display().to_string())
    }

    /// The key in the file at `path`, made and saved there first if the file
    /// does not exist: the embedded default's key survives restarts (tokens
    /// stay valid) without anybody configuring one.
    ///
    /// The file is written with mode 0600 through a temporary file and a
    /// hard link, so a reader never sees half a key, and of two processes
    /// starting at once on one `DATA_DIR` both end up with the key that was
    /// saved first.
    ///
    /// ```
    /// use operator_demo::auth::Keys;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("jwt.pem");
    /// let first = Keys::load_or_generate(&path).unwrap();
    /// let second = Keys::load_or_generate(&path).unwrap();
    /// assert_eq!(first.kid(), second.kid());
    /// ```
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        match fs::metadata(path) {
            Ok(_) => {
                warn_if_readable_by_others(path);
                Self::from_private_file(path)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let keys = Self::generate();
                match write_new(path, keys.private_pem().as_bytes()) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), kid = %keys.kid, "generated a JWT signing key");
                        Ok(keys)
                    }
                    // Another process saved its key first: use that one.
                    Err(KeyError::Exists { .. }) => Self::from_private_file(path),
                    Err(err) => Err(err),
                }
            }
            Err(source) => Err(KeyError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Also accepts tokens signed by the key whose public half (SPKI PEM,
    /// `-----BEGIN PUBLIC KEY-----`) or private half (PKCS#8 PEM) is `pem`.
    ///
    /// ```
    /// use operator_demo::auth::Keys;
    ///
    /// let old = Keys::generate();
    /// let keys = Keys::generate().with_public_pem(&old.private_pem(), "old.pem").unwrap();
    /// assert!(keys.verification_kids().any(|kid| kid == old.kid()));
    /// assert!(Keys::generate().with_public_pem("garbage", "old.pem").is_err());
    /// ```
    pub fn with_public_pem(mut self, pem: &str, origin: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        let public = VerifyingKey::from_public_key_pem(pem)
            .or_else(|_| SigningKey::from_pkcs8_pem(pem).map(|key| key.verifying_key()))
            .map_err(|_| KeyError::InvalidPem {
                origin: origin.to_owned(),
                kind: "public",
            })?;
        let kid = kid_of(&public);
        if !self.verification.iter().any(|(known, _)| *known == kid) {
            self.verification.push((kid, public));
        }
        Ok(self)
    }

    /// Also accepts tokens signed by the keys in every `*.pem` file of `dir`
    /// (public or private halves), in file name order.
    ///
    /// ```
    /// use operator_demo::auth::Keys;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let old = Keys::generate();
    /// std::fs::write(dir.path().join("old.pem"), old.public_pem()).unwrap();
    /// std::fs::write(dir.path().join("README"), "not a key").unwrap();
    /// let keys = Keys::generate().with_public_keys_dir(dir.path()).unwrap();
    /// assert_eq!(keys.verification_kids().count(), 2);
    /// ```
    pub fn with_public_keys_dir(mut self, dir: &Path) -> Result<Self, KeyError> {
        let entries = fs::read_dir(dir).map_err(|source| KeyError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| KeyError::Read {
                path: dir.to_owned(),
                source,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "pem") {
                paths.push(path);
            }
        }
        paths.sort();
        for path in paths {
            let pem = read(&path)?;
            self = self.with_public_pem(&pem, &path.display().to_string())?;
        }
        Ok(self)
    }

    /// The key id of the signing key, sent as the tokens' `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The ids of every key tokens are verified with, the signing key's first.
    pub fn verification_kids(&self) -> impl Iterator<Item = &str> {
        self.verification.iter().map(|(kid, _)| kid.as_str())
    }

    /// The signing key's public half in SPKI PEM: what another service (or a
    /// replica being rotated) needs to verify its tokens.
    ///
    /// ```
    /// use operator_demo::auth::Keys;
    ///
    /// assert!(Keys::generate().public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
    /// ```
    pub fn public_pem(&self) -> String {
        self.signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// The signing key in PKCS#8 PEM, in RFC 8410's version 1 form (the
    /// seed alone), which OpenSSL 3 (`openssl pkey`) and Python's
    /// `cryptography` read; the version 2 form with the public key, which
    /// they refuse, is still accepted by [`from_private_pem`](Self::from_private_pem).
    /// Secret: write it only to a file only its owner reads (as [`keygen`] does).
    ///
    /// ```
    /// use operator_demo::auth::Keys;
    ///
    /// let keys = Keys::generate();
    /// let again = Keys::from_private_pem(&keys.private_pem(), "JWT_PRIVATE_KEY").unwrap();
    /// assert_eq!(again.kid(), keys.kid());
    /// ```
    pub fn private_pem(&self) -> String {
        KeypairBytes {
            secret_key: self.signing.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .unwrap_or_default()
    }

    /// Every verification key (the signing key's first, rotated ones after)
    /// as an RFC 7517 JSON Web Key Set of RFC 8037 `OKP`/`Ed25519` keys, each
    /// with its `kid`: what `/.well-known/jwks.json` serves.
    ///
    /// ```
    /// use operator_demo::auth::Keys;
    ///
    /// let keys = Keys::generate();
    /// let jwks = keys.jwks();
    /// assert_eq!(jwks.keys[0].kid, keys.kid());
    /// assert_eq!(jwks.keys[0].crv, "Ed25519");
    /// ```
    pub fn jwks(&self) -> Jwks {
        use base64::Engine as _;
        Jwks {
            keys: self
                .verification
                .iter()
                .map(|(kid, key)| Jwk {
                    kty: "OKP",
                    crv: "Ed25519",
                    alg: "EdDSA",
                    r#use: "sig",
                    kid: kid.clone(),
                    x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes()),
                })
                .collect(),
        }
    }

    pub(super) fn signing_der(&self) -> Vec<u8> {
        self.signing
            .to_pkcs8_der()
            .map(|der| der.as_bytes().to_vec())
            .unwrap_or_default()
    }

    pub(super) fn verification_keys(&self) -> impl Iterator<Item = (&str, &[u8; 32])> {
        self.verification
            .iter()
            .map(|(kid, key)| (kid.as_str(), key.as_bytes()))
    }
}

/// A JSON Web Key Set (RFC 7517): the public keys tokens are verified with.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Jwks {
    /// The keys, the current signing key first.
    pub keys: Vec<Jwk>,
}

/// One Ed25519 public key as a JSON Web Key (RFC 8037).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Jwk {
    /// Key type: always `OKP`.
    pub kty: &'static str,
    /// Curve: always `Ed25519`.
    pub crv: &'static str,
    /// Algorithm: always `EdDSA`.
    pub alg: &'static str,
    /// Use: always `sig`.
    #[serde(rename = "use")]
    pub r#use: &'static str,
    /// The key id tokens name in their `kid` header.
    pub kid: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
}

/// `operator-demo keygen PATH`: makes a new signing key and saves it at
/// `path` (mode 0600), refusing to replace an existing file. Point
/// `JWT_PRIVATE_KEY_FILE` at it.
///
/// ```
/// use operator_demo::auth::{Keys, keygen};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("jwt.pem");
/// let keys = keygen(&path).unwrap();
/// assert_eq!(Keys::from_private_file(&path).unwrap().kid(), keys.kid());
/// assert!(keygen(&path).is_err(), "an existing key is never replaced");
/// ```
pub fn keygen(path: &Path) -> Result<Keys, KeyError> {
    let keys = Keys::generate();
    write_new(path, keys.private_pem().as_bytes())?;
    Ok(keys)
}

fn read(path: &Path) -> Result<String, KeyError> {
    fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Writes `contents` to a new file at `path` (mode 0600), failing with
/// [`KeyError::Exists`] if there is one: the bytes go to a temporary file
/// beside it, flushed to disk, then hard-linked to `path` (which, unlike a
/// rename, never replaces a file another process saved meanwhile).
fn write_new(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let write_error = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(write_error)?;
    }
    let suffix: u64 = rand::random();
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!(".{suffix:016x}.tmp"));
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::hard_link(&temp, path)
    })();
    let _ = fs::remove_file(&temp);
    match result {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(KeyError::Exists {
            path: path.to_owned(),
        }),
        Err(source) => Err(KeyError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A key file others can read is logged, not refused: the operator may
/// have reasons (a group-readable secret mount), but should know.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the JWT signing key file is readable by other users; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_style_pem_loads() {
        // `openssl genpkey -algorithm ed25519` output (RFC 8410 test key).
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let keys = Keys::from_private_pem(pem, "test").unwrap();
        assert_eq!(keys.kid(), "ed25519-19bf44096984cdfe");
    }

    #[test]
    fn rsa_and_truncated_keys_are_refused() {
        let keys = Keys::generate();
        let pem = keys.private_pem();
        assert!(Keys::from_private_pem(&pem[..pem.len() / 2], "x").is_err());
        assert!(Keys::from_private_pem(&keys.public_pem(), "x").is_err());
        assert!(Keys::from_private_pem("", "x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn generated_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(KEY_FILE_NAME);
        Keys::load_or_generate(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temporary file is left beside it.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }
}
