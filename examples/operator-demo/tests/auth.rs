//! Bearer tokens through `AuthLayer`, as a client sees them: status,
//! `WWW-Authenticate`, problem body, and what the handler receives.

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    response::Response,
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use operator_demo::auth::{
    AuthLayer, Keys, Principal, Role, TokenIssuer, TokenSettings, TokenVerifier,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

fn ada() -> Principal {
    Principal {
        user_id: "user-1".into(),
        org_id: "org-1".into(),
        role: Role::Admin,
    }
}

fn app(verifier: TokenVerifier) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { format!("{}|{}|{}", p.user_id, p.org_id, p.role.as_str()) }),
        )
        .route("/public", get(|| async { "public" }))
        .layer(AuthLayer::new(verifier))
}

async fn send(app: &Router, path: &str, authorization: Option<&[u8]>) -> (Response, String) {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, Body::empty()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

/// Asserts a 401 `invalid_token` problem and returns its detail.
fn assert_invalid_token(response: &Response, body: &str) -> String {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["status"], 401);
    problem["detail"].as_str().unwrap().to_owned()
}

/// Signs arbitrary claims with `keys`' signing key (EdDSA, its `kid`).
fn sign(keys: &Keys, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(keys.kid().to_owned());
    sign_with_header(keys, &header, claims)
}

fn sign_with_header(keys: &Keys, header: &Header, claims: &Value) -> String {
    // Installs the demo's EdDSA provider for jsonwebtoken in this process.
    let _ = TokenVerifier::new(keys, &TokenSettings::default());
    let key = EncodingKey::from_ed_pem(keys.private_pem().as_bytes()).unwrap();
    jsonwebtoken::encode(header, claims, &key).unwrap()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(exp_from_now: i64) -> Value {
    let now = now();
    json!({
        "sub": "user-1", "org": "org-1", "role": "agent",
        "iss": "operator-demo", "aud": "operator-demo-api",
        "iat": now, "nbf": now,
        "exp": now.saturating_add_signed(exp_from_now),
    })
}

#[tokio::test]
async fn round_trip_puts_the_principal_in_the_request() {
    let keys = Keys::generate();
    let settings = TokenSettings::default();
    let issued = TokenIssuer::new(&keys, &settings).issue(&ada()).unwrap();
    assert_eq!(issued.token_type, "bearer");
    assert_eq!(issued.expires_in, 3600);
    let app = app(TokenVerifier::new(&keys, &settings));

    let (response, body) = send(&app, "/me", Some(&bearer(&issued.access_token))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body, "user-1|org-1|admin");

    // Scheme case and extra spaces are accepted (RFC 9110: case-insensitive).
    let lower = format!("bearer   {}", issued.access_token);
    let (response, _) = send(&app, "/me", Some(lower.as_bytes())).await;
    assert_eq!(response.status(), 200);

    // The token says what the claims say, and the header names our key.
    let header = jsonwebtoken::decode_header(&issued.access_token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(keys.kid()));
    let payload = issued.access_token.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(payload["sub"], "user-1");
    assert_eq!(payload["org"], "org-1");
    assert_eq!(payload["role"], "admin");
    assert_eq!(payload["iss"], "operator-demo");
    assert_eq!(payload["aud"], "operator-demo-api");
    let exp = payload["exp"].as_u64().unwrap();
    let iat = payload["iat"].as_u64().unwrap();
    assert_eq!(exp - iat, 3600);
}

#[tokio::test]
async fn anonymous_requests_pass_and_protected_routes_answer_401() {
    let keys = Keys::generate();
    let app = app(TokenVerifier::new(&keys, &TokenSettings::default()));
    let (response, body) = send(&app, "/public", None).await;
    assert_eq!(
        (response.status(), body.as_str()),
        (StatusCode::OK, "public")
    );
    let (response, _) = send(&app, "/me", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    // Another scheme is not ours to judge: a proxy's Basic credentials pass.
    let (response, _) = send(&app, "/public", Some(b"Basic dXNlcjpwYXNz")).await;
    assert_eq!(response.status(), 200);
    let (response, _) = send(&app, "/me", Some(b"Basic dXNlcjpwYXNz")).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let keys = Keys::generate();
    let app = app(TokenVerifier::new(&keys, &TokenSettings::default()));

    // Expired beyond the 30 s leeway.
    let (response, body) = send(&app, "/public", Some(&bearer(&sign(&keys, &claims(-120))))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token has expired"
    );

    // Within the leeway it still passes (replica clocks differ a little).
    let (response, _) = send(&app, "/me", Some(&bearer(&sign(&keys, &claims(-5))))).await;
    assert_eq!(response.status(), 200);

    // nbf and iat in the future.
    let mut future = claims(3600);
    future["nbf"] = json!(now() + 600);
    let (response, body) = send(&app, "/public", Some(&bearer(&sign(&keys, &future)))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token is not valid yet"
    );
    let mut future = claims(3600);
    future["iat"] = json!(now() + 600);
    let (response, body) = send(&app, "/public", Some(&bearer(&sign(&keys, &future)))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token is not valid yet"
    );

    // A short TTL really expires.
    let settings = TokenSettings {
        ttl: Duration::from_secs(1),
        leeway: Duration::ZERO,
        ..TokenSettings::default()
    };
    let token = TokenIssuer::new(&keys, &settings).issue(&ada()).unwrap();
    let strict = self::app(TokenVerifier::new(&keys, &settings));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (response, body) = send(&strict, "/me", Some(&bearer(&token.access_token))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token has expired"
    );
}

#[tokio::test]
async fn wrong_audience_or_issuer_and_missing_claims_are_refused() {
    let keys = Keys::generate();
    let app = app(TokenVerifier::new(&keys, &TokenSettings::default()));
    // An array holding our audience is as good as the string.
    let mut c = claims(600);
    c["aud"] = json!(["billing-api", "operator-demo-api"]);
    let (response, body) = send(&app, "/me", Some(&bearer(&sign(&keys, &c)))).await;
    assert_eq!(response.status(), 200, "{body}");
    for (claim, value) in [
        ("aud", json!("another-api")),
        ("aud", json!(["another-api"])),
        ("iss", json!("someone-else")),
    ] {
        let mut c = claims(600);
        c[claim] = value;
        let (response, body) = send(&app, "/me", Some(&bearer(&sign(&keys, &c)))).await;
        assert_eq!(
            assert_invalid_token(&response, &body),
            "the token was issued for another service",
            "{claim}"
        );
    }
    for missing in ["exp", "nbf", "iat", "iss", "aud", "sub", "org", "role"] {
        let mut c = claims(600);
        c.as_object_mut().unwrap().remove(missing);
        let (response, body) = send(&app, "/me", Some(&bearer(&sign(&keys, &c)))).await;
        assert_invalid_token(&response, &body);
        let _ = missing;
    }
    for (claim, value) in [
        ("role", json!("root")),
        ("sub", json!("")),
        ("exp", json!("tomorrow")),
        ("sub", json!(42)),
    ] {
        let mut c = claims(600);
        c[claim] = value;
        let (response, body) = send(&app, "/me", Some(&bearer(&sign(&keys, &c)))).await;
        assert_invalid_token(&response, &body);
    }
    // A verifier for another audience refuses our tokens.
    let other = TokenSettings {
        audience: "billing-api".into(),
        ..TokenSettings::default()
    };
    let token = TokenIssuer::new(&keys, &TokenSettings::default())
        .issue(&ada())
        .unwrap();
    let (response, body) = send(
        &self::app(TokenVerifier::new(&keys, &other)),
        "/me",
        Some(&bearer(&token.access_token)),
    )
    .await;
    assert_invalid_token(&response, &body);
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    let keys = Keys::generate();
    let app = app(TokenVerifier::new(&keys, &TokenSettings::default()));
    let payload = b64(&claims(600));
    let kid = keys.kid();

    // alg=none, with and without a signature, any capitalisation.
    for alg in ["none", "None", "NONE", ""] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT", "kid": kid }));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            let (response, body) = send(&app, "/me", Some(&bearer(&token))).await;
            assert_invalid_token(&response, &body);
        }
    }

    // HS256 "signed" with the public key as the HMAC secret: the classic
    // confusion. Refused on the algorithm before any key is used, so the
    // signature's value does not matter; one made from the public key's
    // bytes is as good as any.
    for alg in ["HS256", "HS384", "HS512", "RS256", "ES256", "PS256"] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT", "kid": kid }));
        let signature = URL_SAFE_NO_PAD.encode(keys.public_pem().as_bytes());
        let token = format!("{header}.{payload}.{signature}");
        let (response, body) = send(&app, "/me", Some(&bearer(&token))).await;
        assert_eq!(
            assert_invalid_token(&response, &body),
            "the token's algorithm is not accepted",
            "{alg}"
        );
    }

    // A real EdDSA signature under a header that then claims HS256.
    let token = sign(&keys, &claims(600));
    let mut parts: Vec<&str> = token.split('.').collect();
    let hs = b64(&json!({ "alg": "HS256", "kid": kid }));
    parts[0] = &hs;
    let (response, body) = send(&app, "/me", Some(&bearer(&parts.join(".")))).await;
    assert_invalid_token(&response, &body);
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let keys = Keys::generate();
    let app = app(TokenVerifier::new(&keys, &TokenSettings::default()));
    let token = TokenIssuer::new(&keys, &TokenSettings::default())
        .issue(&ada())
        .unwrap()
        .access_token;
    let parts: Vec<&str> = token.split('.').collect();

    // One character of the signature changed.
    let mut signature = parts[2].as_bytes().to_vec();
    signature[10] = if signature[10] == b'A' { b'B' } else { b'A' };
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(signature).unwrap()
    );
    let (response, body) = send(&app, "/me", Some(&bearer(&forged))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token's signature is invalid"
    );

    // The claims changed (agent -> admin elsewhere), signature kept.
    let mut escalated = claims(600);
    escalated["role"] = json!("admin");
    escalated["org"] = json!("org-2");
    let forged = format!("{}.{}.{}", parts[0], b64(&escalated), parts[2]);
    let (response, body) = send(&app, "/me", Some(&bearer(&forged))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token's signature is invalid"
    );

    // Truncated, empty and doubled signatures, extra segments.
    for forged in [
        format!("{}.{}.", parts[0], parts[1]),
        format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]),
        format!("{}.{}.{}{}", parts[0], parts[1], parts[2], parts[2]),
        format!("{token}.{}", parts[2]),
        format!("{}.{}", parts[0], parts[1]),
    ] {
        let (response, body) = send(&app, "/me", Some(&bearer(&forged))).await;
        assert_invalid_token(&response, &body);
    }

    // Signed by another key claiming our kid.
    let intruder = Keys::generate();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(keys.kid().to_owned());
    let forged = sign_with_header(&intruder, &header, &claims(600));
    let (response, body) = send(&app, "/me", Some(&bearer(&forged))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token's signature is invalid"
    );
}

#[tokio::test]
async fn unknown_or_missing_kid_is_refused() {
    let keys = Keys::generate();
    let app = app(TokenVerifier::new(&keys, &TokenSettings::default()));
    let stranger = Keys::generate();
    let token = TokenIssuer::new(&stranger, &TokenSettings::default())
        .issue(&ada())
        .unwrap()
        .access_token;
    let (response, body) = send(&app, "/me", Some(&bearer(&token))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token was signed by an unknown key"
    );
    let no_kid = sign_with_header(&keys, &Header::new(Algorithm::EdDSA), &claims(600));
    let (response, body) = send(&app, "/me", Some(&bearer(&no_kid))).await;
    assert_eq!(
        assert_invalid_token(&response, &body),
        "the token was signed by an unknown key"
    );
}

#[tokio::test]
async fn rotation_accepts_the_old_key_until_it_is_removed() {
    let settings = TokenSettings::default();
    let old = Keys::generate();
    let new = Keys::generate();
    let old_token = TokenIssuer::new(&old, &settings)
        .issue(&ada())
        .unwrap()
        .access_token;
    let new_token = TokenIssuer::new(&new, &settings)
        .issue(&ada())
        .unwrap()
        .access_token;

    // During the rotation: sign with the new key, verify both.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.pem"), old.public_pem()).unwrap();
    let rotating = new.clone().with_public_keys_dir(dir.path()).unwrap();
    let app = app(TokenVerifier::new(&rotating, &settings));
    for token in [&old_token, &new_token] {
        let (response, body) = send(&app, "/me", Some(&bearer(token))).await;
        assert_eq!(response.status(), 200, "{body}");
    }
    let issued = TokenIssuer::new(&rotating, &settings)
        .issue(&ada())
        .unwrap();
    let kid = jsonwebtoken::decode_header(&issued.access_token)
        .unwrap()
        .kid;
    assert_eq!(kid.as_deref(), Some(new.kid()));

    // After it: the old key's tokens stop working.
    let app = self::app(TokenVerifier::new(&new, &settings));
    let (response, body) = send(&app, "/me", Some(&bearer(&old_token))).await;
    assert_invalid_token(&response, &body);
    let (response, _) = send(&app, "/me", Some(&bearer(&new_token))).await;
    assert_eq!(response.status(), 200);
}

#[cfg(unix)]
#[test]
fn key_file_is_generated_once_private_and_reused() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("data")
        .join(operator_demo::auth::KEY_FILE_NAME);
    // Eight processes' worth of first starts at once: one key wins.
    let kids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| Keys::load_or_generate(&path).unwrap().kid().to_owned()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(kids.iter().all(|kid| *kid == kids[0]), "{kids:?}");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    // Restarted: the same key, so earlier tokens stay valid.
    let again = Keys::load_or_generate(&path).unwrap();
    assert_eq!(again.kid(), kids[0]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), pem);
    // Nothing but the key is left in the folder.
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
    // A corrupted key file stops the start instead of being replaced.
    std::fs::write(&path, "garbage").unwrap();
    let err = Keys::load_or_generate(&path).unwrap_err().to_string();
    assert!(err.contains("is not an Ed25519 private key"), "{err}");
}

#[tokio::test]
async fn garbage_authorization_headers_get_401_never_500() {
    let keys = Keys::generate();
    let app = app(TokenVerifier::new(&keys, &TokenSettings::default()));
    let long = format!("Bearer {}", "a".repeat(10_000));
    let cases: Vec<&[u8]> = vec![
        b"Bearer",
        b"Bearer ",
        b"Bearer     ",
        b"Bearer a.b.c",
        b"Bearer ...",
        b"Bearer a b c",
        b"Bearer \"quoted\"",
        b"Bearer e30.e30.e30",
        b"Bearer eyJhbGciOiJFZERTQSJ9",
        b"Bearer eyJhbGciOiJFZERTQSJ9.",
        b"Bearer eyJhbGciOiJFZERTQSJ9.eyJ.sig",
        b"Bearer \xff\xfe\xfd",
        b"Bearer %00%00",
        b"Bearer ====",
        long.as_bytes(),
    ];
    for case in cases {
        let (response, body) = send(&app, "/public", Some(case)).await;
        assert_invalid_token(&response, &body);
    }
    // Two Authorization headers: neither is believed.
    let token = TokenIssuer::new(&keys, &TokenSettings::default())
        .issue(&ada())
        .unwrap()
        .access_token;
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any bytes a header can hold: 200 (passed as anonymous) or 401, never
    /// anything else, never a panic.
    #[test]
    fn any_authorization_value_is_200_or_401(
        scheme in prop_oneof![Just("Bearer "), Just("bearer "), Just(""), Just("Basic ")],
        rest in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut value = scheme.as_bytes().to_vec();
        value.extend(rest);
        if axum::http::HeaderValue::from_bytes(&value).is_err() {
            return Ok(());
        }
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let status = runtime.block_on(async {
            let keys = Keys::generate();
            let app = app(TokenVerifier::new(&keys, &TokenSettings::default()));
            send(&app, "/public", Some(&value)).await.0.status()
        });
        prop_assert!(status == StatusCode::OK || status == StatusCode::UNAUTHORIZED, "{status}");
    }

    /// Real tokens with any one byte changed are refused (or, if the change
    /// lands where base64 ignores it, still mean the same principal).
    #[test]
    fn mutated_tokens_never_verify_as_someone_else(index in 0usize..2000, byte in any::<u8>()) {
        let keys = Keys::generate();
        let settings = TokenSettings::default();
        let token = TokenIssuer::new(&keys, &settings).issue(&ada()).unwrap().access_token;
        let mut bytes = token.into_bytes();
        let index = index % bytes.len();
        bytes[index] = byte;
        let verified = String::from_utf8(bytes)
            .ok()
            .and_then(|mutated| TokenVerifier::new(&keys, &settings).verify(&mutated).ok());
        if let Some(principal) = verified {
            prop_assert_eq!(principal, ada());
        }
    }
}

/// The PEM inside `pem`, decoded.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
#[expect(clippy::print_stderr, reason = "says why a check was skipped")]
fn private_keys_are_written_in_rfc_8410_v1_form_that_openssl_reads() {
    let keys = Keys::generate();
    let pem = keys.private_pem();
    let der = pem_der(&pem);
    // SEQUENCE { INTEGER 0, AlgorithmIdentifier { 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }:
    // version 0 and no public key, 48 bytes in all.
    assert_eq!(der.len(), 48, "{der:02x?}");
    assert_eq!(
        &der[..16],
        &[
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20
        ]
    );

    // What an operator does to get the public key: `openssl pkey -pubout`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwt.pem");
    std::fs::write(&path, &pem).unwrap();
    match std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&path)
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8(out.stdout).unwrap(), keys.public_pem());
        }
        Err(err) => {
            assert!(
                std::env::var("RAMPART_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "openssl is required here: {err}"
            );
            eprintln!("skipped the openssl check: {err}");
        }
    }
}

#[test]
fn version_2_private_keys_are_still_read() {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};

    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let v2 = signing.to_pkcs8_pem(LineEnding::LF).unwrap();
    assert!(
        pem_der(&v2).len() > 48,
        "a v2 document carries the public key"
    );
    let keys = Keys::from_private_pem(&v2, "JWT_PRIVATE_KEY").unwrap();
    // The same key, written back in v1 form.
    let again = Keys::from_private_pem(&keys.private_pem(), "JWT_PRIVATE_KEY").unwrap();
    assert_eq!(again.kid(), keys.kid());
    assert_eq!(keys.public_pem(), again.public_pem());
}

#[tokio::test]
async fn jwks_lists_every_verification_key_and_verifies_issued_tokens() {
    use operator_demo::app::{AppState, routes};

    let settings = TokenSettings::default();
    let old = Keys::generate();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.pem"), old.public_pem()).unwrap();
    let keys = Keys::generate().with_public_keys_dir(dir.path()).unwrap();
    let issuer = TokenIssuer::new(&keys, &settings);
    let token = issuer.issue(&ada()).unwrap().access_token;

    let state = AppState::new(dir.path()).with_tokens(issuer);
    let response = routes(state)
        .oneshot(
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let listed = body["keys"].as_array().unwrap();
    let kids: Vec<&str> = listed.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [keys.kid(), old.kid()]);
    for key in listed {
        assert_eq!(
            (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
            (
                &json!("OKP"),
                &json!("Ed25519"),
                &json!("EdDSA"),
                &json!("sig")
            )
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(key["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert!(key.get("d").is_none(), "never the private part");
    }

    // Another service verifies the token with the published key alone.
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(listed[0]["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[settings.audience.as_str()]);
    validation.set_issuer(&[settings.issuer.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "user-1");
}

#[tokio::test]
async fn jwks_without_keys_is_503_problem() {
    use operator_demo::app::{AppState, routes};

    let response = routes(AppState::new("./data"))
        .oneshot(
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}
