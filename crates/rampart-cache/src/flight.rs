//! Single-flight: of concurrent tasks that miss one key, one (the leader)
//! computes; the others wait for what it publishes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use bytes::Bytes;
use tokio::sync::watch;

type Slot<V> = Arc<watch::Sender<Option<V>>>;

/// The flights in progress, by key. An entry lives while its leader does
/// (its guard removes it, also when the leader's future is dropped), so the
/// map holds at most one entry per request in progress.
#[derive(Debug)]
pub(crate) struct Flights<V> {
    map: Mutex<HashMap<Bytes, Slot<V>>>,
}

impl<V> Default for Flights<V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

pub(crate) enum Joined<V> {
    Leader(Leader<V>),
    Follower(watch::Receiver<Option<V>>),
}

/// The leader's guard: publishing or dropping it ends the flight.
pub(crate) struct Leader<V> {
    flights: Arc<Flights<V>>,
    key: Bytes,
    slot: Slot<V>,
}

impl<V: Clone> Flights<V> {
    pub(crate) fn join(self: &Arc<Self>, key: &Bytes) -> Joined<V> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = map.get(key) {
            return Joined::Follower(slot.subscribe());
        }
        let slot = Arc::new(watch::channel(None).0);
        map.insert(key.clone(), Arc::clone(&slot));
        Joined::Leader(Leader {
            flights: Arc::clone(self),
            key: key.clone(),
            slot,
        })
    }

    /// Joins as a leader only: `None` when a flight is already out.
    pub(crate) fn try_lead(self: &Arc<Self>, key: &Bytes) -> Option<Leader<V>> {
        match self.join(key) {
            Joined::Leader(leader) => Some(leader),
            Joined::Follower(_) => None,
        }
    }
}

impl<V> Leader<V> {
    /// Hands `value` to every follower and ends the flight.
    pub(crate) fn publish(self, value: V) {
        self.slot.send_replace(Some(value));
    }
}

impl<V> Drop for Leader<V> {
    fn drop(&mut self) {
        let mut map = self
            .flights
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map
            .get(&self.key)
            .is_some_and(|slot| Arc::ptr_eq(slot, &self.slot))
        {
            map.remove(&self.key);
        }
    }
}

/// What a follower got: the leader's value, or `None` when the leader gave
/// up without one (its future was dropped): then try to lead.
pub(crate) async fn follow<V: Clone>(mut receiver: watch::Receiver<Option<V>>) -> Option<V> {
    match receiver.wait_for(Option::is_some).await {
        Ok(value) => value.clone(),
        Err(_) => None,
    }
}
