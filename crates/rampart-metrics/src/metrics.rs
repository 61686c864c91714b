//! The handle on the registry: the HTTP series, the application's own
//! metrics and Rampart's collectors, all in one scrape.

use std::{
    collections::HashSet,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use prometheus_client::{
    collector::Collector,
    encoding::text,
    metrics::MetricType,
    registry::{Metric, Registry, Unit},
};

use crate::{
    Format, MetricsBuilder, MetricsEndpoint, MetricsLayer, RegisterError,
    collectors::{CounterFn, GaugeFn},
    recorder::{HTTP_NAMES, HttpMetrics},
};

/// The metrics of one service: a `prometheus-client` [`Registry`] holding
/// the HTTP series that [`MetricsLayer`] records, the application's own
/// metrics, and the counters of the other Rampart layers.
///
/// Cheap to clone: clones share the registry. Requests never take its lock;
/// registration and scrapes do.
///
/// # Example
///
/// ```
/// use prometheus_client::metrics::{counter::Counter, family::Family, histogram::Histogram};
/// use rampart_metrics::{Format, Metrics};
///
/// let metrics = Metrics::new();
///
/// // Business metrics, plain prometheus-client types.
/// let calls = Histogram::new([1.0, 10.0, 60.0, 300.0]);
/// metrics.register("call_duration_seconds", "Length of finished calls.", calls.clone())?;
/// let failures = Family::<Vec<(String, String)>, Counter>::default();
/// metrics.register("provider_failures_total", "Telephony provider errors.", failures.clone())?;
///
/// calls.observe(42.0);
/// failures.get_or_create(&vec![("provider".into(), "twilio".into())]).inc();
///
/// let text = metrics.encode(Format::Text);
/// assert!(text.contains("call_duration_seconds_count 1"));
/// assert!(text.contains("provider_failures_total{provider=\"twilio\"} 1"));
/// # Ok::<(), rampart_metrics::RegisterError>(())
/// ```
#[derive(Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    http: Arc<HttpMetrics>,
    #[cfg(feature = "ratelimit")]
    pub(crate) ratelimit: std::sync::OnceLock<Arc<crate::collectors::RateLimitCollector>>,
    #[cfg(feature = "ratelimit-breaker")]
    pub(crate) ratelimit_breaker: std::sync::OnceLock<Arc<crate::collectors::BreakerCollector>>,
    #[cfg(feature = "cors")]
    pub(crate) cors: std::sync::OnceLock<Arc<crate::collectors::CorsCollector>>,
    #[cfg(feature = "cache")]
    pub(crate) cache: std::sync::OnceLock<Arc<crate::collectors::CacheCollector>>,
    #[cfg(feature = "headers")]
    pub(crate) csp: std::sync::OnceLock<Arc<crate::collectors::CspCollector>>,
    #[cfg(feature = "tenant")]
    pub(crate) tenant: std::sync::OnceLock<Arc<crate::collectors::TenantCollector>>,
}

struct State {
    registry: Registry,
    /// Every name taken, less `_total`: the registry itself would accept a
    /// duplicate and write an exposition Prometheus rejects.
    names: HashSet<String>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the HTTP series in their default shape (see
    /// [`MetricsBuilder`]).
    pub fn new() -> Self {
        Self::from_builder(&MetricsBuilder::default())
    }

    /// Configures the HTTP series: buckets, status labels, body sizes.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    pub(crate) fn from_builder(builder: &MetricsBuilder) -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(builder, &mut registry);
        let names = HTTP_NAMES.iter().map(|n| (*n).to_owned()).collect();
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State { registry, names }),
                http: Arc::new(http),
                #[cfg(feature = "ratelimit")]
                ratelimit: std::sync::OnceLock::new(),
                #[cfg(feature = "ratelimit-breaker")]
                ratelimit_breaker: std::sync::OnceLock::new(),
                #[cfg(feature = "cors")]
                cors: std::sync::OnceLock::new(),
                #[cfg(feature = "cache")]
                cache: std::sync::OnceLock::new(),
                #[cfg(feature = "headers")]
                csp: std::sync::OnceLock::new(),
                #[cfg(feature = "tenant")]
                tenant: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The layer that records the HTTP series into this registry.
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer::new(self)
    }

    /// The `/metrics` endpoint of this registry (unguarded; see
    /// [`MetricsEndpoint`] for the guards).
    pub fn service(&self) -> MetricsEndpoint {
        MetricsEndpoint::new(self)
    }

    #[cfg(any(
        feature = "cors",
        feature = "headers",
        feature = "ratelimit",
        feature = "tenant"
    ))]
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn http(&self) -> &Arc<HttpMetrics> {
        &self.shared.http
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held (in a collector, say) leaves the
        // registry as consistent as it was: keep serving it.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a metric of any `prometheus-client` type: `Counter`,
    /// `Gauge`, `Histogram`, `Family` of them. Keep a clone to update it; the
    /// registry reads it at each scrape.
    ///
    /// A counter's name may end in `_total` or not: it is exposed as
    /// `<name>_total` either way. Names are checked: an invalid or taken
    /// name is an error, not a panic nor a broken exposition.
    ///
    /// ```
    /// use prometheus_client::metrics::counter::Counter;
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// let runs = Counter::<u64>::default();
    /// metrics.register("campaign_executions_total", "Campaign runs started.", runs.clone())?;
    /// runs.inc();
    /// assert!(metrics.encode(Format::Text).contains("\ncampaign_executions_total 1\n"));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl Metric,
    ) -> Result<(), RegisterError> {
        self.register_inner(name, help, None, metric)
    }

    /// Registers a metric with a unit; the unit's name is appended to the
    /// metric's (`call_duration` with [`Unit::Seconds`] is
    /// `call_duration_seconds`), as OpenMetrics requires.
    ///
    /// ```
    /// use prometheus_client::{metrics::histogram::Histogram, registry::Unit};
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// let calls = Histogram::new([1.0, 60.0]);
    /// metrics.register_with_unit("call_duration", "Calls.", Unit::Seconds, calls)?;
    /// assert!(metrics.encode(Format::OpenMetrics).contains("# UNIT call_duration_seconds seconds"));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_with_unit(
        &self,
        name: &str,
        help: &str,
        unit: Unit,
        metric: impl Metric,
    ) -> Result<(), RegisterError> {
        self.register_inner(name, help, Some(unit), metric)
    }

    fn register_inner(
        &self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        metric: impl Metric,
    ) -> Result<(), RegisterError> {
        let base = if metric.metric_type() == MetricType::Counter {
            name.strip_suffix("_total").unwrap_or(name)
        } else {
            name
        };
        let mut full = base.to_owned();
        if let Some(unit) = &unit {
            full.push('_');
            full.push_str(unit.as_str());
        }
        self.claim(name, &full)?;
        // The registry adds a full stop of its own.
        let help = help.strip_suffix('.').unwrap_or(help);
        let mut state = self.state();
        match unit {
            Some(unit) => state.registry.register_with_unit(base, help, unit, metric),
            None => state.registry.register(base, help, metric),
        }
        Ok(())
    }

    /// Takes `full` (the exposed name, less `_total`) or says why not.
    pub(crate) fn claim(&self, name: &str, full: &str) -> Result<(), RegisterError> {
        let mut state = self.state();
        let key = free_name(&state, name, full)?;
        state.names.insert(key);
        Ok(())
    }

    /// The collector kept in `cell`: made, its `names` claimed and it
    /// registered by the first call. All or nothing: when one of the names
    /// is invalid or taken, none is claimed, nothing is registered and the
    /// cell stays empty, so every later call fails the same way (rather than
    /// adding sources to a collector no scrape reads).
    #[cfg(any(
        feature = "cors",
        feature = "headers",
        feature = "ratelimit",
        feature = "tenant"
    ))]
    pub(crate) fn collector<'a, C>(
        &'a self,
        cell: &'a std::sync::OnceLock<Arc<C>>,
        names: &[&str],
    ) -> Result<&'a Arc<C>, RegisterError>
    where
        C: Default,
        Arc<C>: Collector,
    {
        if let Some(collector) = cell.get() {
            return Ok(collector);
        }
        // Under the registry's lock: two first calls at once claim once.
        let mut state = self.state();
        if let Some(collector) = cell.get() {
            return Ok(collector);
        }
        let mut keys = Vec::with_capacity(names.len());
        for name in names {
            keys.push(free_name(&state, name, name)?);
        }
        state.names.extend(keys);
        let collector = cell.get_or_init(Arc::default);
        state
            .registry
            .register_collector(Box::new(Arc::clone(collector)));
        Ok(collector)
    }

    /// Registers a [`Collector`]: code that writes metrics at each scrape,
    /// for counters that live elsewhere (another crate's atomics, a pool's
    /// size). Its names are not checked against the others.
    ///
    /// ```
    /// use prometheus_client::{
    ///     collector::Collector,
    ///     encoding::{DescriptorEncoder, EncodeMetric},
    ///     metrics::gauge::ConstGauge,
    /// };
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// #[derive(Debug)]
    /// struct Pool;
    ///
    /// impl Collector for Pool {
    ///     fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    ///         let gauge = ConstGauge::new(7i64);
    ///         gauge.encode(encoder.encode_descriptor("db_pool_idle", "Idle connections.", None, gauge.metric_type())?)
    ///     }
    /// }
    ///
    /// let metrics = Metrics::new();
    /// metrics.register_collector(Pool);
    /// assert!(metrics.encode(Format::Text).contains("db_pool_idle 7"));
    /// ```
    pub fn register_collector(&self, collector: impl Collector) {
        self.state()
            .registry
            .register_collector(Box::new(collector));
    }

    /// Registers a counter whose value `read` gives at each scrape: the hook
    /// for counters kept as atomics by another crate. `read` runs under the
    /// registry's lock: it must not call back into this `Metrics`.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let rejected = Arc::new(AtomicU64::new(3));
    /// let metrics = Metrics::new();
    /// let source = Arc::clone(&rejected);
    /// metrics.register_counter_fn("tenant_quota_rejections", "Requests over quota.", move || {
    ///     source.load(Ordering::Relaxed)
    /// })?;
    /// assert!(metrics.encode(Format::Text).contains("tenant_quota_rejections_total 3"));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_counter_fn(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<(), RegisterError> {
        let base = name.strip_suffix("_total").unwrap_or(name);
        self.claim(name, base)?;
        self.register_collector(CounterFn::new(base, help, read));
        Ok(())
    }

    /// Registers a gauge whose value `read` gives at each scrape.
    ///
    /// ```
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// metrics.register_gauge_fn("campaigns_running", "Campaigns running now.", || 2)?;
    /// assert!(metrics.encode(Format::Text).contains("campaigns_running 2"));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_gauge_fn(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Result<(), RegisterError> {
        self.claim(name, name)?;
        self.register_collector(GaugeFn::new(name, help, read));
        Ok(())
    }

    /// Runs `f` on the registry itself, under its lock: for what the methods
    /// above do not offer (sub-registries with a prefix or constant labels).
    /// Names registered this way are not checked. Keep `f` short: scrapes wait.
    ///
    /// ```
    /// use prometheus_client::metrics::counter::Counter;
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// let sent = Counter::<u64>::default();
    /// metrics.with_registry(|registry| {
    ///     registry
    ///         .sub_registry_with_prefix("sms")
    ///         .register("sent", "SMS sent.", sent.clone());
    /// });
    /// sent.inc();
    /// assert!(metrics.encode(Format::Text).contains("sms_sent_total 1"));
    /// ```
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.state().registry)
    }

    /// The whole registry in `format`: what a scrape answers.
    ///
    /// ```
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let metrics = Metrics::new();
    /// assert!(metrics.encode(Format::OpenMetrics).ends_with("# EOF\n"));
    /// assert!(!metrics.encode(Format::Text).contains("# EOF"));
    /// ```
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::with_capacity(4096);
        self.encode_into(format, &mut out);
        out
    }

    pub(crate) fn encode_into(&self, format: Format, out: &mut String) {
        let state = self.state();
        // Writing to a `String` cannot fail, and our collectors return no
        // error of their own; an application's collector that does leaves
        // the output cut short rather than the scrape failing.
        let _ = match format {
            Format::OpenMetrics => text::encode(out, &state.registry),
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(out, &state.registry)
            }
        };
    }
}

/// The key `full` takes in [`State::names`] (less `_total`), if it is a
/// valid name no other series has; `name` is what the caller asked for,
/// for the error.
fn free_name(state: &State, name: &str, full: &str) -> Result<String, RegisterError> {
    if !is_metric_name(full) || full.ends_with("_total") && full != name {
        return Err(RegisterError::InvalidName {
            name: name.to_owned(),
        });
    }
    let key = full.strip_suffix("_total").unwrap_or(full);
    if state.names.contains(key) {
        return Err(RegisterError::Duplicate {
            name: name.to_owned(),
        });
    }
    Ok(key.to_owned())
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the metric name grammar of both formats.
fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::{counter::Counter, gauge::Gauge};

    use super::*;

    /// A collector one of whose names is taken claims none and registers
    /// nothing, and a second call fails the same way (it used to answer `Ok`
    /// and add its source to a collector no scrape read).
    #[cfg(feature = "cors")]
    #[test]
    fn a_collector_with_a_taken_name_is_all_or_nothing() {
        let metrics = Metrics::new();
        metrics
            .register_counter_fn("rampart_cors_disallowed_requests", "taken", || 7)
            .unwrap();
        let stats = rampart_cors::CorsStats::default();
        for _ in 0..2 {
            let err = metrics.register_cors(stats.clone()).unwrap_err();
            assert!(matches!(err, RegisterError::Duplicate { .. }), "{err:?}");
        }
        let text = metrics.encode(Format::Text);
        assert!(!text.contains("rampart_cors_preflights"), "{text}");
        // Its other name was not kept.
        metrics
            .register_counter_fn("rampart_cors_preflights", "free", || 1)
            .unwrap();
    }

    #[test]
    fn names_are_checked() {
        let metrics = Metrics::new();
        for bad in ["", "1abc", "a-b", "a b", "é"] {
            let err = metrics
                .register(bad, "", Gauge::<i64>::default())
                .unwrap_err();
            assert!(matches!(err, RegisterError::InvalidName { .. }), "{bad:?}");
        }
        metrics
            .register("calls", "", Counter::<u64>::default())
            .unwrap();
        for taken in [
            "calls",
            "calls_total",
            "http_requests",
            "http_requests_in_flight",
        ] {
            let err = metrics
                .register(taken, "", Counter::<u64>::default())
                .unwrap_err();
            assert!(matches!(err, RegisterError::Duplicate { .. }), "{taken:?}");
        }
        // A gauge named like a counter's sample collides too.
        let err = metrics
            .register("calls_total", "", Gauge::<i64>::default())
            .unwrap_err();
        assert!(matches!(
            err,
            RegisterError::InvalidName { .. } | RegisterError::Duplicate { .. }
        ));
    }

    #[test]
    fn clones_share_the_registry() {
        let metrics = Metrics::new();
        let clone = metrics.clone();
        clone.register_gauge_fn("answer", "", || 42).unwrap();
        assert!(metrics.encode(Format::Text).contains("answer 42"));
    }
}
