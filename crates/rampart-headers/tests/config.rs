//! `SecurityHeadersConfig` from the environment and from a file (serde), as
//! the headers a client then sees.

use std::collections::HashMap;

use http::{Request, Response};
use rampart_headers::{
    SecurityHeaders, SecurityHeadersConfig, SecurityHeadersConfigError, SecurityHeadersLayer,
};
use tower::{Layer, ServiceExt, service_fn};

fn from_env(vars: &[(&str, &str)]) -> Result<SecurityHeadersConfig, SecurityHeadersConfigError> {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    SecurityHeadersConfig::from_lookup("SECURITY_HEADERS_", |k| env.get(k).cloned())
}

async fn headers(layer: &SecurityHeadersLayer, path: &str) -> http::HeaderMap {
    let handler = service_fn(|_req: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(()))
    });
    let request = Request::get(format!("http://localhost{path}"))
        .body(())
        .unwrap();
    layer
        .layer(handler)
        .oneshot(request)
        .await
        .unwrap()
        .headers()
        .clone()
}

#[tokio::test]
async fn empty_environment_is_the_api_preset() {
    let layer = from_env(&[])
        .unwrap()
        .into_security_headers()
        .unwrap()
        .build()
        .unwrap();
    let from_env = headers(&layer, "/").await;
    let preset = headers(&SecurityHeadersLayer::api(), "/").await;
    assert_eq!(from_env, preset);
}

#[tokio::test]
async fn environment_changes_what_it_names() {
    let config = from_env(&[
        ("SECURITY_HEADERS_PRESET", "html_app"),
        (
            "SECURITY_HEADERS_CSP",
            "default-src 'self'; script-src 'nonce'; report-uri /csp",
        ),
        ("SECURITY_HEADERS_CSP_REPORT_ONLY", "yes"),
        ("SECURITY_HEADERS_HSTS_MAX_AGE", "63072000"),
        ("SECURITY_HEADERS_HSTS_PRELOAD", "true"),
        ("SECURITY_HEADERS_HSTS_ALWAYS", "1"),
        ("SECURITY_HEADERS_FRAME_OPTIONS", "deny"),
        (
            "SECURITY_HEADERS_REFERRER_POLICY",
            "strict-origin-when-cross-origin",
        ),
        ("SECURITY_HEADERS_PERMISSIONS_POLICY", "camera=()"),
        ("SECURITY_HEADERS_TRUSTED_PROXIES", "10.0.0.0/8"),
        ("SECURITY_HEADERS_EXEMPT", "/metrics, /healthz,"),
        ("SECURITY_HEADERS_OVERRIDE_HANDLERS", "off"),
    ])
    .unwrap();
    let layer = config.into_security_headers().unwrap().build().unwrap();
    let h = headers(&layer, "/").await;
    let csp = h["content-security-policy-report-only"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'self'; script-src 'nonce-"),
        "{csp}"
    );
    assert_eq!(
        h["strict-transport-security"],
        "max-age=63072000; includeSubDomains; preload"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
    assert_eq!(h["permissions-policy"], "camera=()");
    assert!(headers(&layer, "/healthz").await.is_empty());
    assert!(headers(&layer, "/metrics/x").await.is_empty());
}

#[tokio::test]
async fn hsts_can_be_switched_off() {
    let config = from_env(&[
        ("SECURITY_HEADERS_HSTS", "false"),
        ("SECURITY_HEADERS_HSTS_ALWAYS", "true"),
    ])
    .unwrap();
    let layer = config.into_security_headers().unwrap().build().unwrap();
    assert!(
        !headers(&layer, "/")
            .await
            .contains_key("strict-transport-security")
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    for (var, value, needle) in [
        ("SECURITY_HEADERS_PRESET", "spa", "api html_app"),
        ("SECURITY_HEADERS_CSP", "default-src self", "'self'"),
        (
            "SECURITY_HEADERS_CSP",
            "script-src 'unsafe-inline' 'nonce'",
            "unsafe-inline",
        ),
        ("SECURITY_HEADERS_CSP", "script-src 'nonce-abc'", "fixed"),
        ("SECURITY_HEADERS_CSP", "img-src", "no source"),
        ("SECURITY_HEADERS_HSTS", "maybe", "true or false"),
        ("SECURITY_HEADERS_HSTS_MAX_AGE", "-1", "seconds"),
        (
            "SECURITY_HEADERS_FRAME_OPTIONS",
            "ALLOW-FROM https://x",
            "DENY SAMEORIGIN",
        ),
        ("SECURITY_HEADERS_REFERRER_POLICY", "none", "no-referrer"),
        (
            "SECURITY_HEADERS_TRUSTED_PROXIES",
            "10.0.0.1/8",
            "did you mean",
        ),
        (
            "SECURITY_HEADERS_PERMISSIONS_POLICY",
            "camera=()\u{7}",
            "visible ASCII",
        ),
        ("SECURITY_HEADERS_EXEMPT", "metrics", "must start with '/'"),
        ("SECURITY_HEADERS_HSTS_PRELOAD", "true", "preload"),
    ] {
        let mut vars = vec![(var, value)];
        if var == "SECURITY_HEADERS_HSTS_PRELOAD" {
            vars.push(("SECURITY_HEADERS_HSTS_MAX_AGE", "600"));
        }
        let err = from_env(&vars).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("SECURITY_HEADERS_"), "{text}");
        assert!(text.contains(needle), "{var}={value:?}: {text}");
    }
    let csp_report_only = from_env(&[("SECURITY_HEADERS_CSP_REPORT_ONLY", "true")]).unwrap_err();
    assert!(
        csp_report_only.to_string().contains("report-uri"),
        "{csp_report_only}"
    );
}

#[tokio::test]
async fn serde_config_with_routes() {
    let json = serde_json::json!({
        "preset": "api",
        "hsts_always": true,
        "frame_options": "SAMEORIGIN",
        "exempt": ["/metrics"],
        "routes": [{"prefix": "/docs", "csp": "default-src 'self'; img-src 'self' data:"}]
    });
    let config: SecurityHeadersConfig = serde_json::from_value(json).unwrap();
    let layer = config.into_security_headers().unwrap().build().unwrap();
    let docs = headers(&layer, "/docs/index.html").await;
    assert_eq!(
        docs["content-security-policy"],
        "default-src 'self'; img-src 'self' data:"
    );
    assert_eq!(docs["x-frame-options"], "SAMEORIGIN");
    assert!(docs.contains_key("strict-transport-security"));
    let root = headers(&layer, "/").await;
    assert_eq!(
        root["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert!(headers(&layer, "/metrics").await.is_empty());
}

#[test]
fn serde_config_refuses_unknown_fields_and_bad_values() {
    for json in [
        serde_json::json!({"preset": "spa"}),
        serde_json::json!({"frame_options": "ALLOWALL"}),
        serde_json::json!({"hsts_max_age": "a year"}),
        serde_json::json!({"x_xss_protection": "1; mode=block"}),
    ] {
        assert!(
            serde_json::from_value::<SecurityHeadersConfig>(json.clone()).is_err(),
            "{json}"
        );
    }
    let config: SecurityHeadersConfig = serde_json::from_value(
        serde_json::json!({"routes": [{"prefix": "/d", "csp": "default-src x y;"}]}),
    )
    .unwrap();
    assert!(config.into_security_headers().is_ok());
    let config: SecurityHeadersConfig = serde_json::from_value(
        serde_json::json!({"routes": [{"prefix": "/d", "csp": "default-src self"}]}),
    )
    .unwrap();
    assert!(matches!(
        config.into_security_headers(),
        Err(SecurityHeadersConfigError::Csp(_))
    ));
}

#[test]
fn from_env_uses_the_process_environment() {
    // Nothing in CI sets SECURITY_HEADERS_*; this checks the wiring.
    assert!(SecurityHeaders::from_env().is_ok());
}
