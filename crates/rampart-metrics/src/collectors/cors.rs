//! `rampart_cors_preflights_total{outcome}` and
//! `rampart_cors_disallowed_requests_total` from every [`CorsStats`] registered.

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter},
};
use rampart_cors::CorsStats;

use super::Sources;
use crate::{Metrics, RegisterError};

pub(crate) const PREFLIGHTS: &str = "rampart_cors_preflights";
pub(crate) const DISALLOWED: &str = "rampart_cors_disallowed_requests";

#[derive(Debug, Default)]
pub(crate) struct CorsCollector(Sources<CorsStats>);

impl Collector for CorsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let (mut allowed, mut rejected, mut disallowed) = (0, 0, 0);
        for stats in self.0.read().iter() {
            allowed += stats.preflights_allowed();
            rejected += stats.preflights_rejected();
            disallowed += stats.requests_disallowed();
        }
        let mut family = encoder.encode_descriptor(
            PREFLIGHTS,
            "CORS preflights answered, by outcome (allowed: 204, rejected: 403).",
            None,
            MetricType::Counter,
        )?;
        for (outcome, value) in [("allowed", allowed), ("rejected", rejected)] {
            ConstCounter::new(value).encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        let counter = ConstCounter::new(disallowed);
        counter.encode(encoder.encode_descriptor(
            DISALLOWED,
            "Cross-origin requests (not preflights) from an origin the policy does not allow.",
            None,
            MetricType::Counter,
        )?)
    }
}

impl Metrics {
    /// Exposes a CORS layer's counters as `rampart_cors_preflights_total{outcome}`
    /// (`allowed`, `rejected`) and `rampart_cors_disallowed_requests_total`.
    ///
    /// ```
    /// use rampart_cors::{CorsConfig, CorsLayer};
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let cors = CorsLayer::new(&CorsConfig::new().allow_origin("https://app.example.com")).unwrap();
    /// let metrics = Metrics::new();
    /// metrics.register_cors(cors.stats())?;
    /// let text = metrics.encode(Format::Text);
    /// assert!(text.contains(r#"rampart_cors_preflights_total{outcome="rejected"} 0"#));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_cors(&self, stats: CorsStats) -> Result<(), RegisterError> {
        let collector = self.collector(&self.shared().cors, &[PREFLIGHTS, DISALLOWED])?;
        collector.0.push(stats);
        Ok(())
    }
}
