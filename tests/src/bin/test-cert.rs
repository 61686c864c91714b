//! Writes a throwaway test CA and a server certificate signed by it, for
//! `127.0.0.1` (and `localhost`, `::1`), into a directory:
//! `ca.pem` (for `NODE_EXTRA_CA_CERTS`, curl `--cacert`), `cert.pem` (server
//! chain: leaf then CA) and `key.pem` (the server's PKCS#8 key).
//!
//! ```text
//! cargo run -p rampart-tests --bin test-cert -- /tmp/certs
//! ```
//!
//! Test use only: the CA's key is thrown away, so nothing else can ever be
//! signed by it, but the certificates are valid for a year.

use std::{fs, path::PathBuf, process::ExitCode};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        println!("usage: test-cert <output directory>");
        return ExitCode::from(2);
    };
    match write(&dir) {
        Ok(()) => {
            println!("wrote ca.pem, cert.pem, key.pem to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("test-cert: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    fs::create_dir_all(dir)?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Rampart test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;

    // `new` reads "127.0.0.1" and "::1" as IP-address SANs.
    let mut params = CertificateParams::new(vec![
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        "localhost".to_owned(),
    ])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let issuer = Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer)?;

    fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    fs::write(
        dir.join("cert.pem"),
        format!("{}{}", cert.pem(), ca_cert.pem()),
    )?;
    fs::write(dir.join("key.pem"), key.serialize_pem())?;
    Ok(())
}
