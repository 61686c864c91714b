//! `rampart_cache_requests_total{namespace,outcome}` and
//! `rampart_cache_evictions_total` from every [`CacheStats`] registered.

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter},
};
use rampart_cache::{CacheOutcome, CacheStats};

use super::Sources;
use crate::{Metrics, RegisterError};

pub(crate) const REQUESTS: &str = "rampart_cache_requests";
pub(crate) const EVICTIONS: &str = "rampart_cache_evictions";

#[derive(Debug, Default)]
pub(crate) struct CacheCollector(Sources<CacheStats>);

impl CacheCollector {
    /// One row per namespace: stores that share a namespace name add up.
    fn rows(&self) -> (Vec<(String, [u64; 5])>, u64) {
        let mut rows: Vec<(String, [u64; 5])> = Vec::new();
        let mut evictions = 0;
        for stats in self.0.read().iter() {
            evictions += stats.evictions();
            for (namespace, counts) in stats.snapshot() {
                let values = counts.map(|(_, n)| n);
                match rows.iter_mut().find(|(name, _)| *name == namespace) {
                    Some(row) => {
                        for (total, value) in row.1.iter_mut().zip(values) {
                            *total += value;
                        }
                    }
                    None => rows.push((namespace, values)),
                }
            }
        }
        (rows, evictions)
    }
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let (rows, evictions) = self.rows();
        let mut family = encoder.encode_descriptor(
            REQUESTS,
            "Cache lookups, by namespace (response route or cache API namespace) and \
             outcome (hit, miss, stale, bypass, error).",
            None,
            MetricType::Counter,
        )?;
        for (namespace, values) in &rows {
            for (outcome, value) in CacheOutcome::ALL.iter().zip(values) {
                ConstCounter::new(*value).encode(family.encode_family(&[
                    ("namespace", namespace.as_str()),
                    ("outcome", outcome.as_str()),
                ])?)?;
            }
        }
        ConstCounter::new(evictions).encode(encoder.encode_descriptor(
            EVICTIONS,
            "Entries the in-process cache tier dropped to stay within its byte budget.",
            None,
            MetricType::Counter,
        )?)
    }
}

impl Metrics {
    /// Exposes a cache store's counters (`CacheLayer::stats`,
    /// `Cache::stats`, `CacheStore::stats`: one set per store) as
    /// `rampart_cache_requests_total{namespace,outcome}` (outcomes `hit`,
    /// `miss`, `stale`, `bypass`, `error`) and `rampart_cache_evictions_total`.
    /// Register each store once: a layer and a `Cache` over one store share
    /// its counters.
    ///
    /// ```
    /// use rampart_cache::{Cache, MemoryCacheStore, Namespace};
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let cache = Cache::new(MemoryCacheStore::new(1 << 20));
    /// let _scripts = cache.namespace(Namespace::campaign_scripts());
    /// let metrics = Metrics::new();
    /// metrics.register_cache(cache.stats())?;
    /// let text = metrics.encode(Format::Text);
    /// assert!(text.contains(r#"rampart_cache_requests_total{namespace="campaign_scripts",outcome="hit"} 0"#));
    /// assert!(text.contains("rampart_cache_evictions_total 0"));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_cache(&self, stats: CacheStats) -> Result<(), RegisterError> {
        let collector = self.collector(&self.shared().cache, &[REQUESTS, EVICTIONS])?;
        collector.0.push(stats);
        Ok(())
    }
}
