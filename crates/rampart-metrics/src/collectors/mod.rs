//! Collectors: metrics whose values live elsewhere and are read at each
//! scrape, the application's (`register_counter_fn`) and the other Rampart
//! crates' (behind the feature of each crate's name).

use std::fmt;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
};

#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "cors")]
mod cors;
#[cfg(feature = "headers")]
mod headers;
#[cfg(feature = "ratelimit")]
mod ratelimit;
#[cfg(feature = "ratelimit-breaker")]
mod ratelimit_breaker;
#[cfg(feature = "tenant")]
mod tenant;

#[cfg(feature = "cache")]
pub(crate) use self::cache::CacheCollector;
#[cfg(feature = "cors")]
pub(crate) use self::cors::CorsCollector;
#[cfg(feature = "headers")]
pub(crate) use self::headers::CspCollector;
#[cfg(feature = "ratelimit")]
pub(crate) use self::ratelimit::RateLimitCollector;
#[cfg(feature = "ratelimit-breaker")]
pub(crate) use self::ratelimit_breaker::BreakerCollector;
#[cfg(feature = "tenant")]
pub(crate) use self::tenant::TenantCollector;

/// A counter read from a closure at each scrape.
pub(crate) struct CounterFn<F> {
    name: String,
    help: String,
    read: F,
}

impl<F> CounterFn<F> {
    pub(crate) fn new(name: &str, help: &str, read: F) -> Self {
        Self {
            name: name.to_owned(),
            help: help.to_owned(),
            read,
        }
    }
}

impl<F> fmt::Debug for CounterFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CounterFn")
            .field("name", &self.name)
            .finish()
    }
}

impl<F: Fn() -> u64 + Send + Sync + 'static> Collector for CounterFn<F> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let counter = ConstCounter::new((self.read)());
        let metric =
            encoder.encode_descriptor(&self.name, &self.help, None, counter.metric_type())?;
        counter.encode(metric)
    }
}

/// A gauge read from a closure at each scrape.
pub(crate) struct GaugeFn<F> {
    name: String,
    help: String,
    read: F,
}

impl<F> GaugeFn<F> {
    pub(crate) fn new(name: &str, help: &str, read: F) -> Self {
        Self {
            name: name.to_owned(),
            help: help.to_owned(),
            read,
        }
    }
}

impl<F> fmt::Debug for GaugeFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaugeFn").field("name", &self.name).finish()
    }
}

impl<F: Fn() -> i64 + Send + Sync + 'static> Collector for GaugeFn<F> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let gauge = ConstGauge::new((self.read)());
        let metric =
            encoder.encode_descriptor(&self.name, &self.help, None, gauge.metric_type())?;
        gauge.encode(metric)
    }
}

/// Sources that one collector reads, added at any time (two rate-limit
/// layers, say): one family per metric name, as both formats require.
#[cfg(any(
    feature = "cache",
    feature = "cors",
    feature = "headers",
    feature = "ratelimit",
    feature = "tenant"
))]
#[derive(Debug)]
pub(crate) struct Sources<T>(std::sync::RwLock<Vec<T>>);

#[cfg(any(
    feature = "cache",
    feature = "cors",
    feature = "headers",
    feature = "ratelimit",
    feature = "tenant"
))]
impl<T> Default for Sources<T> {
    fn default() -> Self {
        Self(std::sync::RwLock::new(Vec::new()))
    }
}

#[cfg(any(
    feature = "cache",
    feature = "cors",
    feature = "headers",
    feature = "ratelimit",
    feature = "tenant"
))]
impl<T> Sources<T> {
    pub(crate) fn push(&self, source: T) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(source);
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<T>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
