//! Single flight: the state machine that makes concurrent misses of one key
//! run one load and share its result.
//!
//! A load in flight is an [`InFlight`] slot in the [`Loads`] of the store
//! shard its key belongs to, under that shard's lock (one table per shard,
//! beside its entries; the store's side, and the leader's guard, are in
//! `local::loads` and `local::leader`). The first caller to miss becomes its *leader* and
//! runs its own future; callers that miss while it runs *join*: the first
//! of them gives the slot a shared [`Flight`], and all of them wait on it:
//! async callers on its [`Notify`](tokio::sync::Notify), blocking ones (the
//! loads of sync functions) on its [`Condvar`](parking_lot::Condvar). Both
//! kinds share the slots and the outcomes below; only the waiting differs. A
//! load nobody joins never allocates a flight, so an uncontended miss costs
//! one slot inserted and removed under a lock the store takes anyway.
//!
//! A flight ends in one of three ways, published under the flight's mutex
//! before the waiters are woken:
//!
//! - `Ready`: the value, which the leader also stored unless an invalidation
//!   *doomed* the slot meanwhile (or the load does not keep such values: the
//!   `None` of a function that does not cache `None`); waiters clone it.
//! - `Failed`: the load returned an `Err`, which is not cached; each waiter
//!   runs its own future once, concurrently, and returns its own result.
//! - `Abandoned`: the leader was dropped or panicked; waiters start over, and
//!   the first of them to get there becomes the new leader.
//!
//! Ordering that makes this exact: a leader removes its slot and stores its
//! value in one hold of the shard's write lock, and a caller that finds no
//! slot looks at the entries under that same hold, so it either sees the
//! stored value or becomes the only leader. Invalidations doom a slot and
//! delete the stored value under one hold too, so they win over a load in
//! flight whichever finishes first. A doomed slot is never joined: its load
//! started before the invalidation, so a caller after it leads a new load in
//! a slot of its own (the doomed one stays until its leader ends it, for the
//! waiters that joined before).

pub(crate) mod reentry;
mod wait;

use std::sync::Arc;

use hashbrown::HashTable;

use crate::key::{CacheKey, Probe};
pub(crate) use wait::{Flight, Outcome, State};

/// A load in flight, as its shard knows it.
pub(crate) struct InFlight {
    pub(crate) key: CacheKey,
    hash: u64,
    /// Tells this load from a later one of the same key.
    token: u64,
    /// An invalidation happened while it ran: its value must not be stored.
    pub(crate) doomed: bool,
    /// Created by the first caller that joins.
    pub(crate) shared: Option<Arc<Flight>>,
}

/// The loads in flight of one store shard, and where its tokens are counted.
#[derive(Default)]
pub(crate) struct Loads {
    slots: HashTable<InFlight>,
    next_token: u64,
}

impl Loads {
    /// The flight of the load of `probe` that a caller may join, and its
    /// token. A doomed load started before an invalidation: a caller after
    /// it must not get its value, so it is not joined.
    pub(crate) fn join(&mut self, probe: &Probe<'_>) -> Option<(Arc<Flight>, u64)> {
        let slot = self.slots.find_mut(probe.hash, |slot| {
            !slot.doomed && slot.key.matches(probe.namespace, probe.id)
        })?;
        let flight = slot
            .shared
            .get_or_insert_with(|| Arc::new(Flight::running()));
        Some((Arc::clone(flight), slot.token))
    }

    /// Starts a load of `probe` (beside a doomed one, if any); its token.
    pub(crate) fn lead(&mut self, probe: &Probe<'_>) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        let slot = InFlight {
            key: CacheKey::from_parts(probe.namespace, probe.id),
            hash: probe.hash,
            token,
            doomed: false,
            shared: None,
        };
        self.slots.insert_unique(probe.hash, slot, |slot| slot.hash);
        token
    }

    /// Ends the load `token` of `hash`: its slot, if it is still there.
    pub(crate) fn take(&mut self, hash: u64, token: u64) -> Option<InFlight> {
        let entry = self.slots.find_entry(hash, |slot| slot.token == token);
        entry.ok().map(|entry| entry.remove().0)
    }

    /// Dooms the load of `probe`, if one is in flight.
    pub(crate) fn doom(&mut self, probe: &Probe<'_>) {
        let found = self.slots.find_mut(probe.hash, |slot| {
            !slot.doomed && slot.key.matches(probe.namespace, probe.id)
        });
        if let Some(slot) = found {
            slot.doomed = true;
        }
    }

    /// Dooms every load whose key `affected` picks.
    pub(crate) fn doom_where(&mut self, affected: impl Fn(&CacheKey) -> bool) {
        for slot in self.slots.iter_mut().filter(|slot| affected(&slot.key)) {
            slot.doomed = true;
        }
    }

    /// How many loads are in flight.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many callers wait on these loads: every holder of a shared
    /// flight but its slot.
    pub(crate) fn waiters(&self) -> usize {
        let waiting = |slot: &InFlight| {
            slot.shared
                .as_ref()
                .map_or(0, |flight| Arc::strong_count(flight) - 1)
        };
        self.slots.iter().map(waiting).sum()
    }
}

/// Which load a leader is running: unique among the loads in flight of all
/// caches (the store's address, and the slot's hash and token), so that
/// [`reentry`] can tell a caller about to wait on its own load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct LoadId {
    store: usize,
    hash: u64,
    token: u64,
}

impl LoadId {
    /// The load `token` of `hash` in the store at `store` (its address).
    pub(crate) fn new(store: usize, hash: u64, token: u64) -> Self {
        LoadId { store, hash, token }
    }
}
