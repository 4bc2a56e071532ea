//! The store's side of single flight (see [`crate::flight`]): each shard
//! keeps its loads in flight beside its entries, under the same lock, so a
//! miss checks for a value stored meanwhile and registers its load in one
//! hold of one lock, and a leader removes its slot and stores its value in
//! another.

use std::sync::Arc;

use crate::flight::{Flight, InFlight, LoadId};
use crate::key::Probe;

use super::leader::{Keep, LeaderGuard, Role, abandon, store_address};
use super::{Found, Store};

impl Store {
    /// Joins the load of `probe`, or starts one. First, under the same lock,
    /// `answer` looks at what the shard holds for the key (a leader may just
    /// have finished): if it answers, that is returned and no load starts.
    pub(crate) fn join_or_lead<V: Clone + 'static, R>(
        &self,
        probe: &Probe<'_>,
        answer: impl FnOnce(Found<V>) -> Option<R>,
    ) -> Result<Role<'_>, R> {
        let mut tables = self.shard(probe.hash).map.write();
        if let Some((flight, token)) = tables.loads.join(probe) {
            let load = LoadId::new(store_address(&self.shards), probe.hash, token);
            return Ok(Role::Waiter(flight, load));
        }
        if let Some(answer) = answer(self.find_in(&tables.entries, probe)) {
            return Err(answer);
        }
        let token = tables.loads.lead(probe);
        drop(tables);
        Ok(Role::Leader(LeaderGuard::new(
            &self.shards,
            probe.hash,
            token,
        )))
    }

    /// Ends the load `token` of `hash`: removes its slot and, with `stored`
    /// and unless an invalidation doomed the load, stores the value in the
    /// same hold of the shard's lock. Returns its waiters' flight, if any.
    ///
    /// The value to store is cloned before any lock is taken: a `Clone`
    /// that calls into this cache must not find its locks held.
    #[inline(always)]
    pub(crate) fn end_load<V: Clone + Send + Sync + 'static>(
        &self,
        hash: u64,
        token: u64,
        stored: Option<(&V, Keep)>,
    ) -> Option<Arc<Flight>> {
        let Some((value, keep)) = stored else {
            return abandon(&self.shards, hash, token);
        };
        let value = value.clone();
        // A doomed load's clone is dropped after the locks are released.
        let mut unstored = None;
        let flight = self.insert_with(hash, keep, |tables| {
            let Some(slot) = tables.loads.take(hash, token) else {
                unstored = Some(value);
                return (None, None);
            };
            let doomed = slot.is_doomed();
            let InFlight { key, shared, .. } = slot;
            if doomed {
                unstored = Some(value);
                return (shared, None);
            }
            (shared, Some((key, value)))
        });
        drop(unstored);
        flight
    }

    /// How many loads are in flight.
    pub(crate) fn loads_in_flight(&self) -> usize {
        self.shards.iter().map(|s| s.map.read().loads.len()).sum()
    }

    /// How many callers wait on loads in flight.
    pub(crate) fn load_waiters(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.map.read().loads.waiters())
            .sum()
    }
}
