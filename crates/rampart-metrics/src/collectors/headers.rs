//! `rampart_csp_violations_total{directive}` from every [`ViolationCounts`]
//! registered.

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter},
};
use rampart_headers::report::ViolationCounts;

use super::Sources;
use crate::{Metrics, RegisterError};

pub(crate) const NAME: &str = "rampart_csp_violations";

#[derive(Debug, Default)]
pub(crate) struct CspCollector(Sources<ViolationCounts>);

impl Collector for CspCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        // Directive names are a closed set, so this stays a few rows.
        let mut rows: Vec<(&'static str, u64)> = Vec::new();
        for counts in self.0.read().iter() {
            for (directive, value) in counts.snapshot() {
                match rows.iter_mut().find(|(d, _)| *d == directive) {
                    Some(row) => row.1 += value,
                    None => rows.push((directive, value)),
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            NAME,
            "CSP violations reported by browsers, by directive.",
            None,
            MetricType::Counter,
        )?;
        for (directive, value) in rows {
            ConstCounter::new(value).encode(family.encode_family(&[("directive", directive)])?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Exposes the CSP violations a `CspReportService` counted as
    /// `rampart_csp_violations_total{directive}` (directives with a count
    /// above zero).
    ///
    /// ```
    /// use rampart_headers::{csp::Directive, report::{ViolatedDirective, ViolationCounts}};
    /// use rampart_metrics::{Format, Metrics};
    ///
    /// let counts = ViolationCounts::default();
    /// let metrics = Metrics::new();
    /// metrics.register_csp_violations(counts.clone())?;
    /// counts.record(ViolatedDirective::Known(Directive::ScriptSrc));
    /// let text = metrics.encode(Format::Text);
    /// assert!(text.contains(r#"rampart_csp_violations_total{directive="script-src"} 1"#));
    /// # Ok::<(), rampart_metrics::RegisterError>(())
    /// ```
    pub fn register_csp_violations(&self, counts: ViolationCounts) -> Result<(), RegisterError> {
        let collector = self.collector(&self.shared().csp, &[NAME])?;
        collector.0.push(counts);
        Ok(())
    }
}
