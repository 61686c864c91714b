//! Concurrency slots per tenant.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use crate::{Tenant, TenantId};

/// Requests in flight per tenant. Only tenants with a request in flight
/// have an entry (it goes when their count reaches zero), so the map is
/// never larger than the number of requests being served.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    held: Mutex<HashMap<TenantId, u32>>,
}

impl Slots {
    /// A slot for `tenant` if it holds fewer than `max`.
    pub(crate) fn try_acquire(self: &Arc<Self>, tenant: &Tenant, max: u32) -> Option<Slot> {
        {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            let count = held.entry(tenant.id().clone()).or_insert(0);
            if *count >= max {
                if *count == 0 {
                    held.remove(tenant.id());
                }
                return None;
            }
            *count += 1;
        }
        tenant.stats().slot_taken();
        Some(Slot {
            slots: Arc::clone(self),
            tenant: tenant.clone(),
        })
    }

    /// Slots `id` holds now.
    pub(crate) fn held(&self, id: &TenantId) -> u32 {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(id).copied().unwrap_or(0)
    }

    fn release(&self, id: &TenantId) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(id);
            }
        }
    }
}

/// One request's slot: given back when dropped (the response body ended,
/// failed or was dropped; the request failed or was cancelled).
pub(crate) struct Slot {
    slots: Arc<Slots>,
    tenant: Tenant,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("tenant", self.tenant.id())
            .finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release(self.tenant.id());
        self.tenant.stats().slot_released();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn slots_are_counted_per_tenant_and_given_back() {
        let slots = Arc::new(Slots::default());
        let acme = Tenant::new("acme".parse().unwrap(), Limits::new());
        let beta = Tenant::new("beta".parse().unwrap(), Limits::new());
        let a1 = slots.try_acquire(&acme, 2).unwrap();
        let a2 = slots.try_acquire(&acme, 2).unwrap();
        assert!(slots.try_acquire(&acme, 2).is_none());
        let b1 = slots.try_acquire(&beta, 2).unwrap();
        assert_eq!(slots.held(acme.id()), 2);
        drop(a1);
        assert_eq!(slots.held(acme.id()), 1);
        let _a3 = slots.try_acquire(&acme, 2).unwrap();
        drop((a2, b1));
        assert!(slots.try_acquire(&beta, 0).is_none());
        assert_eq!(
            slots.held.lock().unwrap().len(),
            1,
            "only acme holds a slot"
        );
    }
}
