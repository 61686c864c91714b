//! [`TelephonyManager`]: places calls through a chain of providers with
//! failover and a circuit breaker per provider.

use std::{fmt, sync::Arc};

use rampart::core::{CircuitBreaker, Permit};

use super::{
    BreakerConfig, BreakerState, CallRequest, CallStatus, PhoneNumber, Provider, ProviderError,
    SimulatedProvider, StartedCall, TelephonyMetrics,
};

/// Why no provider placed (or ended) a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TelephonyError {
    /// A provider refused the request itself (invalid number, unverified
    /// caller id...): the caller's error, not failed over. Answer 422.
    #[error("{provider} refused the call: {error}")]
    Rejected {
        /// The provider that refused.
        provider: &'static str,
        /// Its answer ([`ProviderError::Rejected`]).
        error: ProviderError,
    },
    /// Every provider was tried and failed, or was skipped with its circuit
    /// open. Answer 503.
    #[error("no telephony provider could place the call ({})", summary(.attempts))]
    Unavailable {
        /// Each provider tried, with its error; `None` for one skipped
        /// because its circuit was open.
        attempts: Vec<(&'static str, Option<ProviderError>)>,
    },
    /// `end_call` named a provider this manager does not have.
    #[error("no telephony provider named {0:?} is configured")]
    UnknownProvider(String),
}

fn summary(attempts: &[(&'static str, Option<ProviderError>)]) -> String {
    attempts
        .iter()
        .map(|(name, error)| match error {
            Some(error) => format!("{name}: {error}"),
            None => format!("{name}: circuit open"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

struct Entry {
    provider: Arc<dyn Provider>,
    breaker: CircuitBreaker,
}

struct Inner {
    providers: Vec<Entry>,
    metrics: TelephonyMetrics,
    from: PhoneNumber,
}

/// The caller id of the embedded default: Twilio's test number that always
/// succeeds as `From`.
pub const SIMULATED_FROM_NUMBER: &str = "+15005550006";

/// Places calls through its providers in order, failing over to the next on
/// a timeout, an unreachable provider, a 5xx or a 429, never on the
/// caller's own errors (4xx). Each provider has a circuit breaker: after
/// [`BreakerConfig::failures`] consecutive failures it is skipped for the
/// cool-down, then one probe call decides whether it is back.
///
/// Cheap to clone; clones share breakers and metrics.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use operator_demo::telephony::{CallRequest, TelephonyManager};
///
/// let manager = TelephonyManager::simulated();
/// let call = CallRequest::new("+14155550100".parse().unwrap(), "+15005550006".parse().unwrap());
/// let started = manager.start_call(None, &call).await.unwrap();
/// assert_eq!((started.provider, started.call_id.as_str()), ("simulated", "SIM00000001"));
/// manager.end_call("simulated", &started.call_id).await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct TelephonyManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for TelephonyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for entry in &self.inner.providers {
            list.entry(&(entry.provider.name(), entry.breaker.state()));
        }
        list.finish()
    }
}

/// Builds a [`TelephonyManager`].
#[derive(Debug, Default)]
#[must_use]
pub struct TelephonyManagerBuilder {
    providers: Vec<Arc<dyn Provider>>,
    breaker: BreakerConfig,
    metrics: Option<TelephonyMetrics>,
    from: Option<PhoneNumber>,
}

impl TelephonyManagerBuilder {
    /// The caller id calls are placed from (`TELEPHONY_FROM_NUMBER`; default
    /// [`SIMULATED_FROM_NUMBER`]).
    pub fn from_number(mut self, number: PhoneNumber) -> Self {
        self.from = Some(number);
        self
    }

    /// Adds a provider after those already added (the first is tried first).
    pub fn provider(mut self, provider: impl Provider) -> Self {
        self.providers.push(Arc::new(provider));
        self
    }

    /// How each provider's breaker trips and recovers.
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = config;
        self
    }

    /// Counts into `metrics` (register them in the app's registry).
    pub fn metrics(mut self, metrics: TelephonyMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The manager; with no provider added, the [`SimulatedProvider`].
    pub fn build(self) -> TelephonyManager {
        let mut providers = self.providers;
        if providers.is_empty() {
            providers.push(Arc::new(SimulatedProvider::new()));
        }
        let breaker = self.breaker;
        let metrics = self.metrics.unwrap_or_default();
        for provider in &providers {
            metrics.track_provider(provider.name());
        }
        TelephonyManager {
            inner: Arc::new(Inner {
                providers: providers
                    .into_iter()
                    .map(|provider| Entry {
                        breaker: CircuitBreaker::new(
                            format!("telephony provider {}", provider.name()),
                            breaker,
                        ),
                        provider,
                    })
                    .collect(),
                metrics,
                from: self.from.unwrap_or_else(|| {
                    SIMULATED_FROM_NUMBER
                        .parse()
                        .unwrap_or_else(|_| unreachable!("a valid E.164 constant"))
                }),
            }),
        }
    }
}

impl TelephonyManager {
    /// A builder.
    ///
    /// ```
    /// use std::time::Duration;
    /// use operator_demo::telephony::{BreakerConfig, SimulatedProvider, TelephonyManager};
    ///
    /// let manager = TelephonyManager::builder()
    ///     .provider(SimulatedProvider::new())
    ///     .breaker(BreakerConfig { failures: 3, cooldown: Duration::from_secs(10) })
    ///     .build();
    /// assert_eq!(manager.provider_names().collect::<Vec<_>>(), ["simulated"]);
    /// ```
    pub fn builder() -> TelephonyManagerBuilder {
        TelephonyManagerBuilder::default()
    }

    /// Every call simulated: the embedded default.
    pub fn simulated() -> Self {
        Self::builder().build()
    }

    /// The providers in failover order.
    pub fn provider_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.inner.providers.iter().map(|e| e.provider.name())
    }

    /// The breaker state of `provider`, if the manager has it.
    pub fn breaker_state(&self, provider: &str) -> Option<BreakerState> {
        self.entry(provider).map(|e| e.breaker.state())
    }

    /// The caller id calls are placed from.
    ///
    /// ```
    /// use operator_demo::telephony::TelephonyManager;
    ///
    /// assert_eq!(TelephonyManager::simulated().from_number().as_str(), "+15005550006");
    /// ```
    pub fn from_number(&self) -> &PhoneNumber {
        &self.inner.from
    }

    /// The metrics this manager counts into.
    pub fn metrics(&self) -> &TelephonyMetrics {
        &self.inner.metrics
    }

    fn entry(&self, provider: &str) -> Option<&Entry> {
        self.inner
            .providers
            .iter()
            .find(|e| e.provider.name() == provider)
    }

    /// Places `call`, trying `preferred` first when the manager has a
    /// provider of that name (a session's `telephony_provider`), then the
    /// others in order.
    pub async fn start_call(
        &self,
        preferred: Option<&str>,
        call: &CallRequest,
    ) -> Result<StartedCall, TelephonyError> {
        let providers = &self.inner.providers;
        let first = preferred
            .and_then(|name| providers.iter().position(|e| e.provider.name() == name))
            .unwrap_or(0);
        let order = std::iter::once(first).chain((0..providers.len()).filter(|&i| i != first));
        let mut attempts = Vec::new();
        for index in order {
            let entry = &providers[index];
            let name = entry.provider.name();
            let Some(permit) = entry.breaker.try_acquire() else {
                attempts.push((name, None));
                continue;
            };
            match entry.provider.start_call(call).await {
                Ok(started) => {
                    permit.success();
                    if !attempts.is_empty() {
                        tracing::info!(provider = name, failed = %summary(&attempts), "call placed after failover");
                    }
                    return Ok(started);
                }
                Err(error) => {
                    if let Some(rejected) = self.settle(name, permit, error, &mut attempts) {
                        return Err(rejected);
                    }
                }
            }
        }
        Err(TelephonyError::Unavailable { attempts })
    }

    /// Records how an attempt failed; `Some` when it must not fail over.
    fn settle(
        &self,
        name: &'static str,
        permit: Permit,
        error: ProviderError,
        attempts: &mut Vec<(&'static str, Option<ProviderError>)>,
    ) -> Option<TelephonyError> {
        if !error.fails_over() {
            // The provider answered properly: it is healthy.
            permit.neutral();
            return Some(TelephonyError::Rejected {
                provider: name,
                error,
            });
        }
        permit.failure(&error);
        self.inner.metrics.provider_failed(name);
        tracing::warn!(provider = name, %error, "telephony provider failed");
        attempts.push((name, Some(error)));
        None
    }

    /// Hangs up `call_id` at `provider` (the provider that placed it: a call
    /// cannot fail over). The breaker is consulted but not bypassed.
    pub async fn end_call(
        &self,
        provider: &str,
        call_id: &str,
    ) -> Result<CallStatus, TelephonyError> {
        let entry = self
            .entry(provider)
            .ok_or_else(|| TelephonyError::UnknownProvider(provider.chars().take(64).collect()))?;
        let name = entry.provider.name();
        let Some(permit) = entry.breaker.try_acquire() else {
            return Err(TelephonyError::Unavailable {
                attempts: vec![(name, None)],
            });
        };
        match entry.provider.end_call(call_id).await {
            Ok(status) => {
                permit.success();
                Ok(status)
            }
            Err(error) => {
                let mut attempts = Vec::new();
                match self.settle(name, permit, error, &mut attempts) {
                    Some(rejected) => Err(rejected),
                    None => Err(TelephonyError::Unavailable { attempts }),
                }
            }
        }
    }
}
