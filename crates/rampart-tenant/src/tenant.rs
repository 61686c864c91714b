//! The resolved tenant, as handlers and deep code see it.

use std::{fmt, sync::Arc};

use crate::{Limits, QuotaExceeded, TenantCounter, TenantId, TenantStats};

/// The tenant of the current request: its id and its quotas.
///
/// [`TenantLayer`](crate::TenantLayer) puts one in the request's extensions
/// and makes it the [current tenant](crate::current_tenant) while the inner
/// service runs. With the `axum` feature it is an extractor (401
/// problem+json when the request has none). Clones are cheap (reference
/// counts).
///
/// # Example
///
/// ```
/// use rampart_tenant::{Limits, Tenant};
///
/// let tenant = Tenant::new("acme".parse()?, Limits::new().counted("users", 2));
/// assert_eq!(tenant.id().as_str(), "acme");
/// assert!(tenant.check_count("users", 1).is_ok());
/// let full = tenant.check_count("users", 2).unwrap_err();
/// assert_eq!(full.status(), 403);
/// assert_eq!(full.quota(), "users");
/// # Ok::<(), rampart_tenant::TenantIdError>(())
/// ```
#[derive(Clone)]
pub struct Tenant {
    id: TenantId,
    limits: Arc<Limits>,
    stats: Arc<TenantStats>,
}

impl Tenant {
    /// A tenant with these limits (for tests, jobs and tools: requests get
    /// theirs from the layer).
    pub fn new(id: TenantId, limits: Limits) -> Self {
        Self::from_parts(id, Arc::new(limits), Arc::new(TenantStats::new()))
    }

    pub(crate) fn from_parts(id: TenantId, limits: Arc<Limits>, stats: Arc<TenantStats>) -> Self {
        Self { id, limits, stats }
    }

    /// The tenant's id.
    #[inline]
    pub fn id(&self) -> &TenantId {
        &self.id
    }

    /// The tenant's quotas.
    #[inline]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn stats(&self) -> &TenantStats {
        &self.stats
    }

    /// Checks that the tenant may create one more `resource` when it has
    /// `current` of them now: `Err` (403 problem+json naming the quota)
    /// when `current` is at or above [`Limits::counted`]; always `Ok` for a
    /// resource without a quota.
    ///
    /// The count and the insert that follows must not race with another
    /// create: run both in one transaction that holds
    /// [`sqlx::lock_tenant_resource`](crate::sqlx) (Postgres advisory lock;
    /// on SQLite the transaction is the only writer already).
    pub fn check_count(&self, resource: &str, current: u64) -> Result<(), QuotaExceeded> {
        let Some(max) = self.limits.get_counted(resource) else {
            return Ok(());
        };
        if current < max {
            self.stats.add(TenantCounter::CountAdmitted);
            Ok(())
        } else {
            self.stats.add(TenantCounter::CountRefused);
            Err(QuotaExceeded::counted(resource, max))
        }
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Tenant {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Tenant {}
