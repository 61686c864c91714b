//! Typed errors: configuration a person typed, and metric registrations.

/// Why a [`MetricsBuilder`](crate::MetricsBuilder) refused its configuration.
///
/// # Example
///
/// ```
/// use rampart_metrics::{MetricsConfigError, Metrics};
///
/// let err = Metrics::builder().duration_buckets([0.1, 0.05]).build().unwrap_err();
/// assert!(matches!(err, MetricsConfigError::UnsortedBuckets { .. }));
/// assert!(err.to_string().contains("0.05"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsConfigError {
    /// A histogram was given no bucket bounds.
    #[error("{histogram} buckets are empty; give at least one upper bound")]
    EmptyBuckets {
        /// Which histogram.
        histogram: &'static str,
    },
    /// A bucket bound is NaN or infinite (`+Inf` is always added).
    #[error("{histogram} bucket bound {value} is not a finite number (+Inf is added by itself)")]
    NonFiniteBucket {
        /// Which histogram.
        histogram: &'static str,
        /// The bound as given.
        value: f64,
    },
    /// The bounds do not strictly increase.
    #[error(
        "{histogram} bucket bound {value} does not come after {previous}; bounds must strictly increase"
    )]
    UnsortedBuckets {
        /// Which histogram.
        histogram: &'static str,
        /// The bound before it.
        previous: f64,
        /// The bound out of order.
        value: f64,
    },
}

/// Why a metric could not be registered.
///
/// # Example
///
/// ```
/// use prometheus_client::metrics::counter::Counter;
/// use rampart_metrics::{Metrics, RegisterError};
///
/// let metrics = Metrics::new();
/// let err = metrics
///     .register("http_requests_total", "taken", Counter::<u64>::default())
///     .unwrap_err();
/// assert!(matches!(err, RegisterError::Duplicate { .. }));
/// let err = metrics.register("calls-made", "bad", Counter::<u64>::default()).unwrap_err();
/// assert!(matches!(err, RegisterError::InvalidName { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The name is not a Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    #[error(
        "{name:?} is not a metric name: use letters, digits, '_' and ':', not starting with a digit"
    )]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// A metric of this name (less any `_total`) is registered already.
    #[error("a metric named {name:?} is registered already")]
    Duplicate {
        /// The name as given.
        name: String,
    },
}

/// Why a guard of the [`MetricsEndpoint`](crate::MetricsEndpoint) was refused.
///
/// # Example
///
/// ```
/// use rampart_metrics::{GuardError, IpAllowList};
///
/// let err = "10.0.0.0/8, 10.0.0.1/33".parse::<IpAllowList>().unwrap_err();
/// assert!(matches!(err, GuardError::InvalidNetwork { .. }));
/// assert!(err.to_string().contains("10.0.0.1/33"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// An allow-list entry is neither an IP address nor a CIDR network.
    #[error("allow-list entry {entry:?} is not an IP address or a CIDR network such as 10.0.0.0/8")]
    InvalidNetwork {
        /// The entry as written.
        entry: String,
    },
    /// A network has bits set after its prefix (`10.0.0.1/8`), usually a
    /// typo for another network.
    #[error("allow-list entry {entry:?} has host bits set; did you mean {network}?")]
    HostBitsSet {
        /// The entry as written.
        entry: String,
        /// The network the prefix describes.
        network: String,
    },
    /// The allow-list has no entry: every scrape would be refused.
    #[error("the IP allow-list is empty; every scrape would be refused")]
    EmptyAllowList,
    /// The basic-auth user name is empty or contains `:` (RFC 7617 §2).
    #[error("basic-auth user name {user:?} is empty or contains ':'")]
    InvalidUser {
        /// The user name as given.
        user: String,
    },
    /// The basic-auth password is empty.
    #[error("the basic-auth password is empty")]
    EmptyPassword,
}
