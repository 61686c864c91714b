//! Configuration from the environment: every bad value is a typed error
//! naming the variable; nothing panics.

use rampart_sentry::{SentryConfig, SentryConfigError};

fn from(vars: &[(&str, &str)]) -> Result<SentryConfig, SentryConfigError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    SentryConfig::from_lookup(move |name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

#[test]
fn no_dsn_is_off() {
    for vars in [&[][..], &[("SENTRY_DSN", "")], &[("SENTRY_DSN", "   ")]] {
        let config = from(vars).unwrap();
        assert!(!config.is_enabled());
        assert!(config.client_options().unwrap().dsn.is_none());
        let guard = config.init().unwrap();
        assert!(!guard.is_enabled());
    }
}

#[test]
fn full_configuration() {
    let config = from(&[
        ("SENTRY_DSN", " https://public@o1.ingest.example.com/42 "),
        ("ENVIRONMENT", "production"),
        ("SENTRY_ENVIRONMENT", "ignored"),
        ("SENTRY_RELEASE", "operator-demo@1.4.2"),
        ("SENTRY_TRACES_SAMPLE_RATE", "0.25"),
    ])
    .unwrap();
    assert!(config.is_enabled());
    let options = config.client_options().unwrap();
    let dsn = options.dsn.as_ref().unwrap();
    assert_eq!(dsn.project_id().to_string(), "42");
    assert_eq!(options.environment.as_deref(), Some("production"));
    assert_eq!(options.release.as_deref(), Some("operator-demo@1.4.2"));
    assert_eq!(options.traces_sample_rate, 0.25);
    assert!(!options.send_default_pii);
    assert!(options.before_send.is_some() && options.before_breadcrumb.is_some());
    // The key stays out of debug output.
    assert!(!format!("{config:?}").contains("public"));
}

#[test]
fn defaults() {
    let config = from(&[("SENTRY_ENVIRONMENT", "staging")]).unwrap();
    assert_eq!(config.get_traces_sample_rate(), 0.1);
    let options = config
        .default_release(Some("app@1.0.0"))
        .client_options()
        .unwrap();
    assert_eq!(options.environment.as_deref(), Some("staging"));
    assert_eq!(options.release.as_deref(), Some("app@1.0.0"));
    // An explicit release wins over the default.
    let options = SentryConfig::new()
        .release("explicit")
        .default_release(Some("app@1.0.0"))
        .client_options()
        .unwrap();
    assert_eq!(options.release.as_deref(), Some("explicit"));
}

#[test]
fn bad_sample_rates_name_the_variable() {
    for bad in [
        "1.5", "-0.1", "abc", "NaN", "inf", "-inf", "0,5", "10%", "1e3", "0x1",
    ] {
        let err = from(&[("SENTRY_TRACES_SAMPLE_RATE", bad)]).unwrap_err();
        match &err {
            SentryConfigError::Env { var, source } => {
                assert_eq!(*var, "SENTRY_TRACES_SAMPLE_RATE");
                assert_eq!(
                    **source,
                    SentryConfigError::InvalidSampleRate {
                        value: bad.to_owned()
                    }
                );
            }
            other => panic!("{bad}: {other:?}"),
        }
        assert!(
            err.to_string().contains("SENTRY_TRACES_SAMPLE_RATE"),
            "{err}"
        );
    }
    for good in ["0", "1", "0.0", "1.0", " 0.5 ", "1e-1"] {
        assert!(
            from(&[("SENTRY_TRACES_SAMPLE_RATE", good)]).is_ok(),
            "{good}"
        );
    }
}

#[test]
fn bad_dsns_name_the_variable() {
    for bad in [
        "not a dsn",
        "https://example.com",
        "https://public@example.com",
        "ftp://public@example.com/42",
        "://@/",
        "https://public@/42",
    ] {
        let Err(err) = from(&[("SENTRY_DSN", bad)]) else {
            panic!("{bad} accepted");
        };
        let SentryConfigError::Env { var, source } = &err else {
            panic!("{bad}: {err:?}");
        };
        assert_eq!(*var, "SENTRY_DSN");
        assert!(
            matches!(**source, SentryConfigError::InvalidDsn { ref value, .. } if value == bad),
            "{bad}: {source:?}"
        );
    }
}

#[test]
fn bad_values_from_code_are_errors_too() {
    assert!(matches!(
        SentryConfig::new().dsn("nope").client_options(),
        Err(SentryConfigError::InvalidDsn { .. })
    ));
    for rate in [f32::NAN, -1.0, 1.01, f32::INFINITY] {
        let config = SentryConfig::new().traces_sample_rate(rate);
        assert!(
            matches!(
                config.client_options(),
                Err(SentryConfigError::InvalidSampleRate { .. })
            ),
            "{rate}"
        );
        assert!(config.init().is_err());
    }
}
