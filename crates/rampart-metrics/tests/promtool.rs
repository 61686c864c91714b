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
