//! The telephony series: provider failures, call durations, campaign runs.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::{Registry, Unit},
};

/// The `provider` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

/// Upper bounds of the call duration buckets, in seconds: a few seconds to
/// an hour.
const DURATION_BUCKETS: [f64; 10] = [
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// The telephony metrics, cheap to clone (every clone counts into the same
/// series). Register them once in the app's registry.
///
/// - `provider_failures_total{provider}`: calls a provider failed (timeout,
///   unreachable, 5xx, 429, unreadable answer), failed over or not; at 0
///   from the start for each provider the manager has;
/// - `call_duration_seconds`: durations of ended calls;
/// - `campaign_executions_total`: campaigns executed.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use operator_demo::telephony::TelephonyMetrics;
/// use prometheus_client::{encoding::text::encode, registry::Registry};
///
/// let metrics = TelephonyMetrics::default();
/// let mut registry = Registry::default();
/// metrics.register(&mut registry);
/// metrics.campaign_executed();
/// metrics.observe_call_duration(Duration::from_secs(42));
///
/// let mut text = String::new();
/// encode(&mut text, &registry).unwrap();
/// assert!(text.contains("campaign_executions_total 1"));
/// assert!(text.contains("call_duration_seconds_count 1"));
/// ```
#[derive(Debug, Clone)]
pub struct TelephonyMetrics {
    provider_failures: Family<ProviderLabel, Counter>,
    call_duration: Histogram,
    campaign_executions: Counter,
}

impl Default for TelephonyMetrics {
    fn default() -> Self {
        Self {
            provider_failures: Family::default(),
            call_duration: Histogram::new(DURATION_BUCKETS),
            campaign_executions: Counter::default(),
        }
    }
}

impl TelephonyMetrics {
    /// Adds the three series to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "provider_failures",
            "Telephony provider calls that failed (timeout, unreachable, 5xx, 429), by provider",
            self.provider_failures.clone(),
        );
        registry.register_with_unit(
            "call_duration",
            "Durations of ended calls",
            Unit::Seconds,
            self.call_duration.clone(),
        );
        registry.register(
            "campaign_executions",
            "Campaigns executed",
            self.campaign_executions.clone(),
        );
    }

    /// Exports `provider_failures_total{provider}` at 0 before the first
    /// failure of `provider`, so that an alert or a dashboard sees 0 rather
    /// than no data. The manager calls it for each configured provider.
    ///
    /// ```
    /// use operator_demo::telephony::TelephonyMetrics;
    /// use prometheus_client::{encoding::text::encode, registry::Registry};
    ///
    /// let metrics = TelephonyMetrics::default();
    /// let mut registry = Registry::default();
    /// metrics.register(&mut registry);
    /// metrics.track_provider("twilio");
    ///
    /// let mut text = String::new();
    /// encode(&mut text, &registry).unwrap();
    /// assert!(text.contains(r#"provider_failures_total{provider="twilio"} 0"#));
    /// ```
    pub fn track_provider(&self, provider: &'static str) {
        // Creating the series is the point; the read guard goes at once.
        drop(self.provider_failures.get_or_create(&ProviderLabel {
            provider: provider.to_owned(),
        }));
    }

    /// Counts a failure of `provider` (a provider name: a small fixed set).
    pub fn provider_failed(&self, provider: &'static str) {
        self.provider_failures
            .get_or_create(&ProviderLabel {
                provider: provider.to_owned(),
            })
            .inc();
    }

    /// The failures counted for `provider` so far.
    ///
    /// ```
    /// use operator_demo::telephony::TelephonyMetrics;
    ///
    /// let metrics = TelephonyMetrics::default();
    /// metrics.provider_failed("twilio");
    /// assert_eq!(metrics.provider_failures("twilio"), 1);
    /// assert_eq!(metrics.provider_failures("telnyx"), 0);
    /// ```
    pub fn provider_failures(&self, provider: &str) -> u64 {
        self.provider_failures
            .get(&ProviderLabel {
                provider: provider.to_owned(),
            })
            .map_or(0, |counter| counter.get())
    }

    /// Records the duration of an ended call.
    pub fn observe_call_duration(&self, duration: Duration) {
        self.call_duration.observe(duration.as_secs_f64());
    }

    /// Counts a campaign execution.
    pub fn campaign_executed(&self) {
        self.campaign_executions.inc();
    }

    /// Campaign executions counted so far.
    pub fn campaign_executions(&self) -> u64 {
        self.campaign_executions.get()
    }
}
