//! What a tenant may use: the answer of the app's lookup.

use std::borrow::Cow;

/// A tenant's quotas, as the app's [`TenantLookup`](crate::TenantLookup)
/// returns them (or as given to every tenant with
/// [`TenantLayerBuilder::default_limits`](crate::TenantLayerBuilder::default_limits)).
/// A quota not set is unlimited.
///
/// - `max_concurrent`: requests in flight at once on routes marked with a
///   [`QuotaLayer`](crate::QuotaLayer) that has [`concurrent`](crate::QuotaLayer::concurrent);
///   past it, 429.
/// - `monthly(name, max)`: units per calendar month (UTC), one per request
///   on routes marked with [`QuotaLayer::monthly`](crate::QuotaLayer::monthly);
///   past it, 429 with `Retry-After` until the month ends.
/// - `counted(name, max)`: how many of a resource the tenant may have
///   (users, campaigns), checked by the app with
///   [`Tenant::check_count`](crate::Tenant::check_count); past it, 403.
///
/// # Example
///
/// ```
/// use rampart_tenant::Limits;
///
/// let limits = Limits::new()
///     .max_concurrent(10)
///     .monthly("calls", 10_000)
///     .counted("users", 25)
///     .counted("campaigns", 50);
/// assert_eq!(limits.get_max_concurrent(), Some(10));
/// assert_eq!(limits.get_monthly("calls"), Some(10_000));
/// assert_eq!(limits.get_counted("users"), Some(25));
/// assert_eq!(limits.get_counted("contacts"), None); // unlimited
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Limits {
    max_concurrent: Option<u32>,
    monthly: Vec<(Cow<'static, str>, u64)>,
    counted: Vec<(Cow<'static, str>, u64)>,
}

impl Limits {
    /// No quota at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max` requests in flight at once on concurrency-marked routes.
    pub fn max_concurrent(mut self, max: u32) -> Self {
        self.max_concurrent = Some(max);
        self
    }

    /// At most `max` units of the monthly quota `name` per calendar month
    /// (UTC). Setting the same name again replaces it.
    pub fn monthly(mut self, name: impl Into<Cow<'static, str>>, max: u64) -> Self {
        set(&mut self.monthly, name.into(), max);
        self
    }

    /// At most `max` of the resource `name`. Setting the same name again
    /// replaces it.
    pub fn counted(mut self, name: impl Into<Cow<'static, str>>, max: u64) -> Self {
        set(&mut self.counted, name.into(), max);
        self
    }

    /// The concurrency limit, if any.
    pub fn get_max_concurrent(&self) -> Option<u32> {
        self.max_concurrent
    }

    /// The monthly quota `name`, if set.
    pub fn get_monthly(&self, name: &str) -> Option<u64> {
        get(&self.monthly, name)
    }

    /// The resource quota `name`, if set.
    pub fn get_counted(&self, name: &str) -> Option<u64> {
        get(&self.counted, name)
    }
}

// A handful of quotas per tenant: a scan beats hashing.
fn set(list: &mut Vec<(Cow<'static, str>, u64)>, name: Cow<'static, str>, max: u64) {
    match list.iter_mut().find(|(n, _)| *n == name) {
        Some(entry) => entry.1 = max,
        None => list.push((name, max)),
    }
}

fn get(list: &[(Cow<'static, str>, u64)], name: &str) -> Option<u64> {
    list.iter().find(|(n, _)| n == name).map(|(_, max)| *max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_again_replaces() {
        let limits = Limits::new().monthly("calls", 1).monthly("calls", 2);
        assert_eq!(limits.get_monthly("calls"), Some(2));
        assert_eq!(Limits::new().get_max_concurrent(), None);
    }
}
