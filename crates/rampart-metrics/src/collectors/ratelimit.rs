//! `rampart_ratelimit_decisions_total{policy,outcome}` from the
//! [`RateLimitStats`] of every rate-limit layer registered.

use std::{fmt, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter},
};
use rampart_ratelimit::{RateLimitCounter, RateLimitStats};

use super::Sources;
use crate::{Metrics, RegisterError};

pub(crate) const NAME: &str = "rampart_ratelimit_decisions";

#[derive(Debug, Default)]
pub(crate) struct RateLimitCollector(Sources<Arc<RateLimitStats>>);

impl Collector for RateLimitCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        // Two layers may name a policy alike: their counts add up.
        let mut rows: Vec<(String, RateLimitCounter, u64)> = Vec::new();
        for stats in self.0.read().iter() {
            stats.for_each(|policy, counter, value| {
                match rows
                    .iter_mut()
                    .find(|(p, c, _)| p == policy && *c == counter)
                {
                    Some(row) => row.2 += value,
                    None => rows.push((policy.to_owned(), counter, value)),
                }
            });
        }
        let mut family = encoder.encode_descriptor(
            NAME,
            "Rate-limit decisions, by policy and outcome.",
            None,
            MetricType::Counter,
        )?;
        for (policy, counter, value) in &rows {
            let labels = [("policy", policy.as_str()), ("outcome", counter.as_str())];
            ConstCounter::new(*value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Exposes a rate-limit layer's counters as
    /// `rampart_ratelimit_decisions_total{policy, outcome}` (outcomes:
    /// `admitted`, `limited`, `shadow_limited`, `fallback`, `unavailable`,
    /// `no_key`, `exempt`). Call it once per layer (edge and identity
    /// layers, say); policies of the same name add up.
    ///
    /// ```
    /// use rampart_metrics::{Format, Metrics};
    /// use rampart_ratelimit::{MemoryStore, Policy, RateLimitLayer};
    ///
    /// let layer = RateLimitLayer::builder(MemoryStore::new())
    ///     .policy(Policy::parse("api", "100/minute").unwrap())
    ///     .build()
    ///     .unwrap();
    /// let metrics = Metrics::new();
    /// metrics.register_ratelimit(layer.stats())?;
    /// let text = metrics.encode(Format::Text);
    /// assert!(text.contains(r#"rampart_ratelimit_decisions_total{policy="api",outcome="limited"} 0"#));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_ratelimit(&self, stats: Arc<RateLimitStats>) -> Result<(), RegisterError> {
        let collector = self.collector(&self.shared().ratelimit, &[NAME])?;
        collector.0.push(stats);
        Ok(())
    }
}
