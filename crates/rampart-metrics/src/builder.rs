//! What a [`Metrics`](crate::Metrics) records: histogram buckets, how the
//! status is written, whether body sizes are measured.

use crate::{Metrics, MetricsConfigError, StatusLabels};

/// Upper bounds of `http_request_duration_seconds`, in seconds: from 1 ms
/// (a cached answer) to 10 s (a slow report), finer where APIs live.
pub const DEFAULT_DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds of the body size histograms, in bytes: 64 B to 16 MiB, ×4 each.
pub const DEFAULT_SIZE_BUCKETS: [f64; 10] = [
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// Builds a [`Metrics`]: what the HTTP series look like. Validated by
/// [`build`](Self::build), which names the first bad value.
///
/// # Example
///
/// ```
/// use rampart_metrics::{Metrics, StatusLabels};
///
/// let metrics = Metrics::builder()
///     .duration_buckets([0.01, 0.1, 1.0])
///     .status_labels(StatusLabels::Class)
///     .body_sizes(true)
///     .build()
///     .unwrap();
/// // Families appear with their first request; the gauge is always there.
/// let text = metrics.encode(rampart_metrics::Format::Text);
/// assert!(text.contains("http_requests_in_flight 0"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsBuilder {
    pub(crate) duration_buckets: Vec<f64>,
    pub(crate) size_buckets: Vec<f64>,
    pub(crate) status: StatusLabels,
    pub(crate) body_sizes: bool,
}

impl Default for MetricsBuilder {
    fn default() -> Self {
        Self {
            duration_buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            size_buckets: DEFAULT_SIZE_BUCKETS.to_vec(),
            status: StatusLabels::Code,
            body_sizes: false,
        }
    }
}

impl MetricsBuilder {
    /// The upper bounds of `http_request_duration_seconds`, in seconds,
    /// strictly increasing (default [`DEFAULT_DURATION_BUCKETS`]).
    pub fn duration_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.duration_buckets = bounds.into_iter().collect();
        self
    }

    /// The upper bounds of the body size histograms, in bytes (default
    /// [`DEFAULT_SIZE_BUCKETS`]).
    pub fn size_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.size_buckets = bounds.into_iter().collect();
        self
    }

    /// Whether `status` is the code or its class (default the code).
    pub fn status_labels(mut self, mode: StatusLabels) -> Self {
        self.status = mode;
        self
    }

    /// Also record `http_request_size_bytes` (from `Content-Length`; requests
    /// without one are not observed) and `http_response_size_bytes` (the
    /// bytes the body yielded). Off by default.
    pub fn body_sizes(mut self, enabled: bool) -> Self {
        self.body_sizes = enabled;
        self
    }

    /// Validates the configuration and makes the registry with the HTTP series.
    pub fn build(self) -> Result<Metrics, MetricsConfigError> {
        check_buckets("duration", &self.duration_buckets)?;
        if self.body_sizes {
            check_buckets("size", &self.size_buckets)?;
        }
        Ok(Metrics::from_builder(&self))
    }
}

fn check_buckets(histogram: &'static str, bounds: &[f64]) -> Result<(), MetricsConfigError> {
    if bounds.is_empty() {
        return Err(MetricsConfigError::EmptyBuckets { histogram });
    }
    if let Some(&value) = bounds.iter().find(|b| !b.is_finite()) {
        return Err(MetricsConfigError::NonFiniteBucket { histogram, value });
    }
    for pair in bounds.windows(2) {
        // `partial_cmp` is total here: every bound is finite.
        if pair[1] <= pair[0] {
            return Err(MetricsConfigError::UnsortedBuckets {
                histogram,
                previous: pair[0],
                value: pair[1],
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_buckets_are_named() {
        let cases: [(Vec<f64>, &str); 4] = [
            (vec![], "empty"),
            (vec![0.1, f64::NAN], "NaN"),
            (vec![0.1, f64::INFINITY], "inf"),
            (vec![0.1, 0.1], "0.1"),
        ];
        for (bounds, needle) in cases {
            let err = Metrics::builder()
                .duration_buckets(bounds)
                .build()
                .unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn size_buckets_are_checked_only_when_used() {
        assert!(Metrics::builder().size_buckets([]).build().is_ok());
        let err = Metrics::builder()
            .size_buckets([])
            .body_sizes(true)
            .build()
            .unwrap_err();
        assert_eq!(err, MetricsConfigError::EmptyBuckets { histogram: "size" });
    }

    #[test]
    fn defaults_are_valid() {
        check_buckets("duration", &DEFAULT_DURATION_BUCKETS).unwrap();
        check_buckets("size", &DEFAULT_SIZE_BUCKETS).unwrap();
    }
}
