//! Counters of tenant resolution and quota decisions: plain atomics that a
//! metrics exporter (rampart-metrics, or any other) reads, with no
//! dependency either way. Labels are fixed (no tenant id), so a metric
//! built from them has bounded cardinality.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TenantCounter {
    /// Tenant taken from the app's principal.
    FromPrincipal,
    /// Tenant taken from the subdomain.
    FromSubdomain,
    /// Tenant taken from a trusted proxy's header.
    FromHeader,
    /// Tenant taken from the path prefix.
    FromPath,
    /// A tenant header sent by a peer that is not a trusted proxy (ignored).
    UntrustedHeader,
    /// No tenant, and the layer required one (401).
    Missing,
    /// No tenant, and the layer let the request through without one.
    Anonymous,
    /// A malformed tenant id (400).
    Invalid,
    /// The lookup does not know the tenant (404).
    Unknown,
    /// The lookup failed (503).
    LookupFailed,
    /// A concurrency slot was taken.
    ConcurrencyAdmitted,
    /// No concurrency slot was free (429).
    ConcurrencyLimited,
    /// A monthly unit was charged.
    MonthlyAdmitted,
    /// The monthly quota was spent (429).
    MonthlyLimited,
    /// The monthly store failed (503).
    MonthlyUnavailable,
    /// A counted-resource check passed.
    CountAdmitted,
    /// A counted-resource check refused a create (403).
    CountRefused,
}

impl TenantCounter {
    /// Every counter, in a stable order.
    pub const ALL: [Self; 17] = [
        Self::FromPrincipal,
        Self::FromSubdomain,
        Self::FromHeader,
        Self::FromPath,
        Self::UntrustedHeader,
        Self::Missing,
        Self::Anonymous,
        Self::Invalid,
        Self::Unknown,
        Self::LookupFailed,
        Self::ConcurrencyAdmitted,
        Self::ConcurrencyLimited,
        Self::MonthlyAdmitted,
        Self::MonthlyLimited,
        Self::MonthlyUnavailable,
        Self::CountAdmitted,
        Self::CountRefused,
    ];

    /// A snake_case name, for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FromPrincipal => "from_principal",
            Self::FromSubdomain => "from_subdomain",
            Self::FromHeader => "from_header",
            Self::FromPath => "from_path",
            Self::UntrustedHeader => "untrusted_header",
            Self::Missing => "missing",
            Self::Anonymous => "anonymous",
            Self::Invalid => "invalid",
            Self::Unknown => "unknown",
            Self::LookupFailed => "lookup_failed",
            Self::ConcurrencyAdmitted => "concurrency_admitted",
            Self::ConcurrencyLimited => "concurrency_limited",
            Self::MonthlyAdmitted => "monthly_admitted",
            Self::MonthlyLimited => "monthly_limited",
            Self::MonthlyUnavailable => "monthly_unavailable",
            Self::CountAdmitted => "count_admitted",
            Self::CountRefused => "count_refused",
        }
    }
}

/// The counters of one [`TenantLayer`](crate::TenantLayer), shared by its
/// services and by the [`Tenant`](crate::Tenant)s it resolves (so quota
/// decisions made further in count here too).
///
/// # Example
///
/// ```
/// use rampart_tenant::{TenantCounter, TenantLayer};
///
/// let layer = TenantLayer::builder().from_path_prefix("/t/").build().unwrap();
/// let stats = layer.stats();
/// assert_eq!(stats.get(TenantCounter::FromPath), 0);
/// assert_eq!(stats.in_flight(), 0);
/// let mut rows = 0;
/// stats.for_each(|_counter, _value| rows += 1);
/// assert_eq!(rows, TenantCounter::ALL.len());
/// ```
#[derive(Debug, Default)]
pub struct TenantStats {
    counters: [AtomicU64; 17],
    in_flight: AtomicI64,
}

impl TenantStats {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub(crate) fn add(&self, counter: TenantCounter) {
        self.counters[counter as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn slot_taken(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn slot_released(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// One counter.
    pub fn get(&self, counter: TenantCounter) -> u64 {
        self.counters[counter as usize].load(Ordering::Relaxed)
    }

    /// Concurrency slots held right now, over all tenants (a gauge).
    pub fn in_flight(&self) -> u64 {
        u64::try_from(self.in_flight.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Calls `f(counter, value)` for every counter.
    pub fn for_each(&self, mut f: impl FnMut(TenantCounter, u64)) {
        for counter in TenantCounter::ALL {
            f(counter, self.get(counter));
        }
    }
}
