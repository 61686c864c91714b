//! Both exposition formats, with every kind of series this crate writes,
//! pass promtool (Debian package `prometheus`, installed by scripts/test).
//! Without promtool the tests skip, unless `RAMPART_REQUIRE_SERVICES=1`,
//! where that is a failure.

mod common;

use common::{check, full_registry, promtool};
use rampart_metrics::{Format, Metrics, StatusLabels};

#[tokio::test]
async fn both_formats_pass_promtool() {
    let Some(promtool) = promtool() else { return };
    for status in [StatusLabels::Code, StatusLabels::Class] {
        let metrics = full_registry(status).await;
        for format in [Format::Text, Format::OpenMetrics] {
            let text = metrics.encode(format);
            let (ok, said) = check(promtool, format, &text);
            assert!(ok, "promtool refused {format:?}:\n{said}\n---\n{text}");
            if format == Format::Text {
                // Not even a lint warning.
                assert!(
                    said.trim().is_empty(),
                    "promtool complained:\n{said}\n---\n{text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn promtool_catches_a_broken_exposition() {
    // The checks are real: a duplicated family, or OpenMetrics without its
    // `# EOF`, is refused.
    let Some(promtool) = promtool() else { return };
    let mut text = Metrics::new().encode(Format::Text);
    text.push_str("# TYPE http_requests_in_flight gauge\nhttp_requests_in_flight 0\n");
    let (ok, _) = check(promtool, Format::Text, &text);
    assert!(!ok, "{text}");
    let open = Metrics::new().encode(Format::OpenMetrics);
    let (ok, _) = check(promtool, Format::OpenMetrics, &open);
    assert!(ok, "{open}");
    let cut = open.replace("# EOF\n", "");
    let (ok, _) = check(promtool, Format::OpenMetrics, &cut);
    assert!(!ok, "{cut}");
}

#[tokio::test]
async fn expositions_differ_where_the_formats_do() {
    let metrics = full_registry(StatusLabels::Code).await;
    let open = metrics.encode(Format::OpenMetrics);
    let text = metrics.encode(Format::Text);
    assert!(open.ends_with("# EOF\n"));
    assert!(!text.contains("# EOF"));
    // OpenMetrics names a counter family without `_total`; text 0.0.4 with it.
    assert!(open.contains("# TYPE http_requests counter\n"), "{open}");
    assert!(
        text.contains("# TYPE http_requests_total counter\n"),
        "{text}"
    );
    assert!(open.contains("# UNIT http_request_duration_seconds seconds\n"));
    for body in [&open, &text] {
        assert!(body.contains(r#"method="OTHER",route="unmatched",status="200"} 1"#));
        assert!(
            body.contains(r#"route="/odd/\"quoted\"\\path\n""#),
            "{body}"
        );
        assert!(body.contains("campaign_executions_total 3"));
        assert!(
            body.contains(r#"http_response_size_bytes_sum{method="GET",route="/users/{id}"} 5"#)
        );
    }
}

#[cfg(feature = "ratelimit-breaker")]
#[tokio::test]
async fn breaker_series_carry_each_stores_state() {
    let metrics = full_registry(StatusLabels::Code).await;
    for format in [Format::Text, Format::OpenMetrics] {
        let body = metrics.encode(format);
        for series in [
            r#"rampart_ratelimit_breaker_trips_total{store="redis-edge"} 1"#,
            r#"rampart_ratelimit_breaker_recoveries_total{store="redis-edge"} 0"#,
            r#"rampart_ratelimit_breaker_probes_total{store="redis-edge"} 0"#,
            r#"rampart_ratelimit_breaker_open{store="redis-edge"} 1"#,
            r#"rampart_ratelimit_breaker_trips_total{store="redis-login"} 1"#,
            r#"rampart_ratelimit_breaker_recoveries_total{store="redis-login"} 1"#,
            r#"rampart_ratelimit_breaker_probes_total{store="redis-login"} 1"#,
            r#"rampart_ratelimit_breaker_open{store="redis-login"} 0"#,
            r#"rampart_ratelimit_breaker_open{store="odd \"store\"\\"} 0"#,
        ] {
            assert!(body.contains(series), "{format:?}: no {series}\n{body}");
        }
    }
    let open = metrics.encode(Format::OpenMetrics);
    assert!(
        open.contains("# TYPE rampart_ratelimit_breaker_trips counter\n"),
        "{open}"
    );
    assert!(
        open.contains("# TYPE rampart_ratelimit_breaker_open gauge\n"),
        "{open}"
    );
}

#[cfg(feature = "ratelimit-breaker")]
#[tokio::test]
async fn stores_of_one_name_add_up_and_a_taken_name_is_refused() {
    use std::sync::{Arc, atomic::Ordering};

    use common::{Flaky, decide};
    use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
    use rampart_metrics::RegisterError;
    use rampart_ratelimit::FallbackStore;

    let metrics = Metrics::new();
    let up = FallbackStore::new(Arc::new(Flaky::default()));
    let flaky = Arc::new(Flaky::default());
    let down = FallbackStore::new(Arc::clone(&flaky));
    flaky.down.store(true, Ordering::Relaxed);
    decide(&up).await;
    decide(&down).await;
    // Two stores under one name (one per Redis shard, say): one series.
    metrics
        .register_ratelimit_breaker("redis", up.stats())
        .unwrap();
    metrics
        .register_ratelimit_breaker("redis", down.stats())
        .unwrap();
    let text = metrics.encode(Format::Text);
    assert!(
        text.contains("rampart_ratelimit_breaker_trips_total{store=\"redis\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("rampart_ratelimit_breaker_open{store=\"redis\"} 1\n"),
        "{text}"
    );
    assert_eq!(
        text.matches("rampart_ratelimit_breaker_open{").count(),
        1,
        "{text}"
    );

    // The family names are taken: an app's own metric of that name is refused.
    let err = metrics
        .register(
            "rampart_ratelimit_breaker_open",
            "mine",
            Gauge::<i64>::default(),
        )
        .unwrap_err();
    assert!(matches!(err, RegisterError::Duplicate { .. }), "{err:?}");

    // And the other way round: the breaker's families need their names free.
    let taken = Metrics::new();
    taken
        .register(
            "rampart_ratelimit_breaker_probes_total",
            "mine",
            Counter::<u64>::default(),
        )
        .unwrap();
    let err = taken
        .register_ratelimit_breaker("redis", up.stats())
        .unwrap_err();
    assert!(matches!(err, RegisterError::Duplicate { .. }), "{err:?}");
    if let Some(promtool) = promtool() {
        let (ok, said) = check(promtool, Format::Text, &text);
        assert!(ok && said.trim().is_empty(), "{said}\n{text}");
    }
}
