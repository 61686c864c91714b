//! The demo's `/metrics` over a real socket after a few requests: the HTTP
//! series by route template and, with `REDIS_URL`, the circuit breaker of
//! each Redis rate-limit store (`edge`, `api`, `login`); right after start,
//! the telephony counters at 0 for each configured provider.

use rampart_tests::Demo;

const BIN: &str = env!("CARGO_BIN_EXE_demo-server");

/// The value of the sample whose line starts with `series` (name and
/// labels), if there is one.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_series_of_each_redis_store_are_exported() {
    let Some(url) = rampart_tests::redis_url() else {
        return;
    };
    // Only paths the rate limits exempt: no key of this test lands in the
    // Redis that other tests share.
    let demo = Demo::start(BIN, &[("REDIS_URL", url.as_str())]).await;
    let client = demo.client();
    for _ in 0..3 {
        let response = client.get(demo.url("/health")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let response = client.get(demo.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();

    let health = sample(
        &text,
        r#"http_requests_total{method="GET",route="/health",status="200"}"#,
    );
    assert!(health.is_some_and(|n| n >= 3.0), "{text}");
    for store in ["edge", "api", "login"] {
        for family in [
            "rampart_ratelimit_breaker_trips_total",
            "rampart_ratelimit_breaker_recoveries_total",
            "rampart_ratelimit_breaker_probes_total",
        ] {
            let value = sample(&text, &format!(r#"{family}{{store="{store}"}}"#));
            assert!(
                value.is_some_and(|n| n >= 0.0),
                "no {family} for {store}:\n{text}"
            );
        }
        let open = sample(
            &text,
            &format!(r#"rampart_ratelimit_breaker_open{{store="{store}"}}"#),
        );
        assert!(
            matches!(open, Some(n) if n == 0.0 || n == 1.0),
            "breaker of {store}: {open:?}\n{text}"
        );
    }
    for family in [
        "# TYPE rampart_ratelimit_breaker_trips_total counter\n",
        "# TYPE rampart_ratelimit_breaker_open gauge\n",
    ] {
        assert!(text.contains(family), "no {family:?} in\n{text}");
    }
}

/// Right after start, before any call or campaign, the telephony counters
/// are exported at 0 (an alert or a dashboard sees 0, not "no data"): one
/// `provider_failures_total` per configured provider, in each configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telephony_counters_are_exported_at_zero_from_the_start() {
    // Both real providers, at a port nothing listens on: nothing is dialled,
    // the demo only has to know them.
    const TWILIO: [(&str, &str); 4] = [
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "test-token"),
        ("TWILIO_BASE_URL", "http://127.0.0.1:9"),
        ("TELEPHONY_FROM_NUMBER", "+15005550006"),
    ];
    const TELNYX: [(&str, &str); 3] = [
        ("TELNYX_API_KEY", "test-key"),
        ("TELNYX_CONNECTION_ID", "test-connection"),
        ("TELNYX_BASE_URL", "http://127.0.0.1:9"),
    ];
    let both: Vec<(&str, &str)> = [("TELEPHONY_PROVIDER", "twilio")]
        .into_iter()
        .chain(TWILIO)
        .chain(TELNYX)
        .collect();
    // (the demo's environment, the providers it configures)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case<'_>; 2] = [
        (&[("TELEPHONY_PROVIDER", "simulated")], &["simulated"]),
        (&both, &["twilio", "telnyx"]),
    ];
    for (env, providers) in cases {
        let demo = Demo::start(BIN, env).await;
        let response = demo
            .client()
            .get(demo.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        for provider in providers {
            let series = format!(r#"provider_failures_total{{provider="{provider}"}}"#);
            assert_eq!(sample(&text, &series), Some(0.0), "no {series} in\n{text}");
        }
        assert_eq!(
            text.matches("provider_failures_total{").count(),
            providers.len(),
            "{text}"
        );
        assert_eq!(
            sample(&text, "campaign_executions_total"),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "call_duration_seconds_count"),
            Some(0.0),
            "{text}"
        );
    }
}
