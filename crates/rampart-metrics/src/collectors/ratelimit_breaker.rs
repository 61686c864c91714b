//! `rampart_ratelimit_breaker_{trips,recoveries,probes}_total{store}` and
//! `rampart_ratelimit_breaker_open{store}` from the [`BreakerStats`] of
//! every `FallbackStore` registered.

use std::{fmt, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};
use rampart_ratelimit::BreakerStats;

use super::Sources;
use crate::{Metrics, RegisterError};

pub(crate) const TRIPS: &str = "rampart_ratelimit_breaker_trips";
pub(crate) const RECOVERIES: &str = "rampart_ratelimit_breaker_recoveries";
pub(crate) const PROBES: &str = "rampart_ratelimit_breaker_probes";
pub(crate) const OPEN: &str = "rampart_ratelimit_breaker_open";

/// How to read one counter of one store.
type Read = fn(&BreakerStats) -> u64;

/// The three counters: name, help, how to read one store's value.
const COUNTERS: [(&str, &str, Read); 3] = [
    (
        TRIPS,
        "Times a rate-limit store's circuit breaker gave up its shared store \
         (closed to open), by store.",
        BreakerStats::trips,
    ),
    (
        RECOVERIES,
        "Times a rate-limit store's circuit breaker took its shared store back \
         (open to closed), by store.",
        BreakerStats::recoveries,
    ),
    (
        PROBES,
        "Half-open probes a rate-limit store's circuit breaker sent to its shared \
         store, by store.",
        BreakerStats::probes,
    ),
];

#[derive(Debug, Default)]
pub(crate) struct BreakerCollector(Sources<(String, Arc<BreakerStats>)>);

impl BreakerCollector {
    /// One row per store name: stores registered under one name add up, and
    /// that name's breaker is open while any of theirs is.
    fn rows(&self) -> Vec<(String, [u64; 3], bool)> {
        let mut rows: Vec<(String, [u64; 3], bool)> = Vec::new();
        for (store, stats) in self.0.read().iter() {
            let values = COUNTERS.map(|(_, _, read)| read(stats));
            match rows.iter_mut().find(|(name, _, _)| name == store) {
                Some(row) => {
                    for (total, value) in row.1.iter_mut().zip(values) {
                        *total += value;
                    }
                    row.2 |= stats.is_open();
                }
                None => rows.push((store.clone(), values, stats.is_open())),
            }
        }
        rows
    }
}

impl Collector for BreakerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let rows = self.rows();
        for (i, (name, help, _)) in COUNTERS.iter().enumerate() {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (store, values, _) in &rows {
                ConstCounter::new(values[i])
                    .encode(family.encode_family(&[("store", store.as_str())])?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            OPEN,
            "Whether a rate-limit store's circuit breaker is open now (1: policies \
             use their fallback), by store.",
            None,
            MetricType::Gauge,
        )?;
        for (store, _, open) in &rows {
            ConstGauge::new(i64::from(*open))
                .encode(family.encode_family(&[("store", store.as_str())])?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Exposes the circuit breaker of a rate-limit `FallbackStore`
    /// ([`FallbackStore::stats`](rampart_ratelimit::FallbackStore::stats))
    /// under the label `store`:
    /// `rampart_ratelimit_breaker_trips_total{store}` (closed to open),
    /// `rampart_ratelimit_breaker_recoveries_total{store}` (open to closed),
    /// `rampart_ratelimit_breaker_probes_total{store}` (half-open probes) and
    /// the gauge `rampart_ratelimit_breaker_open{store}` (1 while the
    /// policies use their fallback, else 0).
    ///
    /// Call it once per store, with a name of your choosing (`edge`, `login`):
    /// names are label values, so use a handful of fixed ones. Stores
    /// registered under one name add up, and that name is open while any of
    /// them is.
    ///
    /// ```
    /// # fn store() -> std::sync::Arc<rampart_ratelimit::BreakerStats> { Default::default() }
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// // `FallbackStore::new(RedisStore::new(connection)).stats()` in an app.
    /// let stats = store();
    /// let metrics = Metrics::new();
    /// metrics.register_ratelimit_breaker("edge", stats)?;
    /// let text = metrics.encode(Format::Text);
    /// assert!(text.contains(r#"rampart_ratelimit_breaker_trips_total{store="edge"} 0"#));
    /// assert!(text.contains(r#"rampart_ratelimit_breaker_open{store="edge"} 0"#));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_ratelimit_breaker(
        &self,
        store: impl Into<String>,
        stats: Arc<BreakerStats>,
    ) -> Result<(), RegisterError> {
        let collector = self.collector(
            &self.shared().ratelimit_breaker,
            &[TRIPS, RECOVERIES, PROBES, OPEN],
        )?;
        collector.0.push((store.into(), stats));
        Ok(())
    }
}
