//! The cryptography jsonwebtoken signs and verifies with: Ed25519 only, on
//! ed25519-dalek.
//!
//! jsonwebtoken 10+ takes its crypto from a process-wide `CryptoProvider`.
//! Its two built-in ones do not fit: `rust_crypto` pulls in the `rsa` crate
//! (RUSTSEC-2023-0071, no fixed version, and `cargo deny check advisories`
//! runs in CI), `aws_lc_rs` needs a C toolchain and CMake on every build
//! machine. This provider is the one algorithm the demo uses, about forty
//! lines over a well-kept crate; every other algorithm is refused, which also
//! pins the algorithm a second time below `Validation`.

use ed25519_dalek::{Signature, SigningKey, VerifyingKey, pkcs8::DecodePrivateKey};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey,
    crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils},
    errors::{ErrorKind, Result},
    signature,
};

struct Ed25519Signer(SigningKey);

impl signature::Signer<Vec<u8>> for Ed25519Signer {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }
}

impl JwtSigner for Ed25519Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct Ed25519Verifier(VerifyingKey);

impl signature::Verifier<Vec<u8>> for Ed25519Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let signature = Signature::from_slice(signature)?;
        // `verify_strict` also refuses small-order keys and non-canonical
        // signatures (malleability).
        self.0.verify_strict(msg, &signature)
    }
}

impl JwtVerifier for Ed25519Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "jsonwebtoken's CryptoProvider takes this signature"
)]
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::EdDSA || key.family() != AlgorithmFamily::Ed {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let key = SigningKey::from_pkcs8_der(key.as_bytes()).map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(Ed25519Signer(key)))
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "jsonwebtoken's CryptoProvider takes this signature"
)]
fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::EdDSA || key.family() != AlgorithmFamily::Ed {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let bytes: &[u8; 32] = key
        .try_get_as_bytes()?
        .try_into()
        .map_err(|_| ErrorKind::InvalidEddsaKey)?;
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(Ed25519Verifier(key)))
}

fn no_jwk<T>() -> Result<T> {
    Err(ErrorKind::UnsupportedAlgorithm.into())
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    // The demo makes no JWKs: errors instead of the panicking placeholders.
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| no_jwk(),
        rsa_pub_components_from_public_key: |_| no_jwk(),
        ec_pub_components_from_private_key: |_, _| no_jwk(),
        ed_pub_components_from_private_key: |_, _| no_jwk(),
        compute_digest: |_, _| no_jwk(),
    },
};

/// Makes [`PROVIDER`] jsonwebtoken's provider for this process, unless one
/// was installed already (by an earlier call, or by the embedding program:
/// then that one is used and must do EdDSA).
pub(super) fn install() {
    let _ = PROVIDER.install_default();
}
