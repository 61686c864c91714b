//! `rampart_tenant_events_total{event}` and `rampart_tenant_in_flight` from
//! every [`TenantStats`] registered.

use std::{fmt, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};
use rampart_tenant::{TenantCounter, TenantStats};

use super::Sources;
use crate::{Metrics, RegisterError};

pub(crate) const EVENTS: &str = "rampart_tenant_events";
pub(crate) const IN_FLIGHT: &str = "rampart_tenant_in_flight";

#[derive(Debug, Default)]
pub(crate) struct TenantCollector(Sources<Arc<TenantStats>>);

impl Collector for TenantCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let sources = self.0.read();
        let mut family = encoder.encode_descriptor(
            EVENTS,
            "Tenant resolutions and quota outcomes, by event (from_principal, unknown, \
             concurrency_limited, monthly_limited, count_refused, ...).",
            None,
            MetricType::Counter,
        )?;
        for counter in TenantCounter::ALL {
            let total: u64 = sources.iter().map(|stats| stats.get(counter)).sum();
            ConstCounter::new(total)
                .encode(family.encode_family(&[("event", counter.as_str())])?)?;
        }
        let in_flight: u64 = sources.iter().map(|stats| stats.in_flight()).sum();
        ConstGauge::new(i64::try_from(in_flight).unwrap_or(i64::MAX)).encode(
            encoder.encode_descriptor(
                IN_FLIGHT,
                "Requests holding a tenant concurrency slot now.",
                None,
                MetricType::Gauge,
            )?,
        )
    }
}

impl Metrics {
    /// Exposes a tenant layer's counters as `rampart_tenant_events_total{event}`
    /// (one series per [`TenantCounter`], a fixed set) and `rampart_tenant_in_flight`.
    ///
    /// ```
    /// use rampart_metrics::{Format, Metrics};
    /// use rampart_tenant::TenantLayer;
    ///
    /// let tenant = TenantLayer::builder().from_path_prefix("/t/").build().unwrap();
    /// let metrics = Metrics::new();
    /// metrics.register_tenant(tenant.stats())?;
    /// let text = metrics.encode(Format::Text);
    /// assert!(text.contains(r#"rampart_tenant_events_total{event="unknown"} 0"#));
    /// assert!(text.contains("rampart_tenant_in_flight 0"));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_tenant(&self, stats: Arc<TenantStats>) -> Result<(), RegisterError> {
        let collector = self.collector(&self.shared().tenant, &[EVENTS, IN_FLIGHT])?;
        collector.0.push(stats);
        Ok(())
    }
}
