//! Single flight: the state machine that makes concurrent misses of one key
//! run one load and share its result.
//!
//! A load in flight is an [`InFlight`] in a sharded table. The first caller to miss
//! becomes its *leader* and runs its own future; callers that miss while it
//! runs *join*: the first of them gives the slot a shared [`Flight`], and all
//! of them wait on it: async callers on its [`Notify`], blocking ones (the
//! loads of sync functions) on its [`Condvar`]. Both kinds share the table,
//! the slots and the outcomes below; only the waiting differs. A load nobody
//! joins never allocates a flight, so an uncontended miss costs one table
//! insert and one removal.
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
//! Ordering that makes this exact: a leader stores its value and removes its
//! slot while holding the table shard's lock, and a caller that finds no slot
//! looks at the store again under that same lock, so it either sees the
//! stored value or becomes the only leader. Invalidations take the same lock
//! to doom a slot and delete the stored value together, so they win over a
//! load in flight whichever finishes first. A doomed slot is never joined:
//! its load started before the invalidation, so a caller after it leads a
//! new load in a slot of its own (the doomed one stays until its leader
//! ends it, for the waiters that joined before).

pub(crate) mod reentry;
mod wait;

use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::{Mutex, MutexGuard};

use crate::key::{CacheKey, Probe, shard_of};
use wait::State;
pub(crate) use wait::{Flight, Outcome};

/// A load in flight, as the table knows it.
struct InFlight {
    key: CacheKey,
    hash: u64,
    /// Tells this load from a later one of the same key.
    token: u64,
    /// An invalidation happened while it ran: its value must not be stored.
    doomed: bool,
    /// Created by the first caller that joins.
    shared: Option<Arc<Flight>>,
}

/// Which load a leader is running: unique among the loads in flight of all
/// caches (the table's address, and the slot's hash and token), so that
/// [`reentry`] can tell a caller about to wait on its own load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct LoadId {
    flights: usize,
    hash: u64,
    token: u64,
}

/// The table of loads in flight, sharded like the store.
pub(crate) struct Flights {
    shards: Box<[Mutex<Table>]>,
}

/// One shard of loads in flight, and where its tokens are counted.
#[derive(Default)]
struct Table {
    slots: HashTable<InFlight>,
    next_token: u64,
}

/// What a caller that missed should do.
pub(crate) enum Role {
    /// Run the load; the guard ends the flight.
    Leader(LeaderGuard),
    /// Wait for the leader's flight, the load `LoadId`.
    Waiter(Arc<Flight>, LoadId),
}

impl Flights {
    pub(crate) fn new(shards: usize) -> Self {
        Flights {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
        }
    }

    fn load_id(&self, hash: u64, token: u64) -> LoadId {
        LoadId {
            flights: self as *const Self as usize,
            hash,
            token,
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<Table> {
        &self.shards[shard_of(hash, self.shards.len())]
    }

    /// Joins the load of `probe`, or starts one. `stored` looks at the store
    /// once more under the table's lock: if it finds the value (a leader just
    /// finished), that is returned and no load starts.
    pub(crate) fn join_or_lead<V>(
        self: &Arc<Self>,
        probe: &Probe<'_>,
        stored: impl FnOnce() -> Option<V>,
    ) -> Result<Role, V> {
        let mut table = self.shard(probe.hash).lock();
        // A doomed load started before an invalidation: a caller after it
        // must not get its value, so it is not joined; the new load gets a
        // slot of its own beside it.
        let found = table.slots.find_mut(probe.hash, |slot| {
            !slot.doomed && slot.key.matches(probe.namespace, probe.id)
        });
        if let Some(slot) = found {
            let flight = slot
                .shared
                .get_or_insert_with(|| Arc::new(Flight::running()));
            let load = self.load_id(probe.hash, slot.token);
            return Ok(Role::Waiter(Arc::clone(flight), load));
        }
        if let Some(value) = stored() {
            return Err(value);
        }
        let token = table.next_token;
        table.next_token += 1;
        let slot = InFlight {
            key: CacheKey::from_parts(probe.namespace, probe.id),
            hash: probe.hash,
            token,
            doomed: false,
            shared: None,
        };
        table
            .slots
            .insert_unique(probe.hash, slot, |slot| slot.hash);
        Ok(Role::Leader(LeaderGuard {
            flights: Arc::clone(self),
            hash: probe.hash,
            token,
            finished: false,
        }))
    }

    /// Dooms the load of one key and runs `delete` under the same lock.
    pub(crate) fn invalidate<R>(&self, probe: &Probe<'_>, delete: impl FnOnce() -> R) -> R {
        let mut table = self.shard(probe.hash).lock();
        let found = table.slots.find_mut(probe.hash, |slot| {
            !slot.doomed && slot.key.matches(probe.namespace, probe.id)
        });
        if let Some(slot) = found {
            slot.doomed = true;
        }
        delete()
    }

    /// Dooms every load that `affected` picks and runs `delete` while all
    /// shards are locked (in index order, so two clears cannot deadlock).
    pub(crate) fn invalidate_all<R>(
        &self,
        affected: impl Fn(&CacheKey) -> bool,
        delete: impl FnOnce() -> R,
    ) -> R {
        let mut tables: Vec<MutexGuard<'_, _>> = self.shards.iter().map(|s| s.lock()).collect();
        for table in &mut tables {
            for slot in table.slots.iter_mut().filter(|slot| affected(&slot.key)) {
                slot.doomed = true;
            }
        }
        delete()
    }

    /// How many loads are in flight (for tests and diagnostics).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().slots.len()).sum()
    }

    /// How many callers wait on loads in flight: every holder of a shared
    /// flight but its slot.
    pub(crate) fn waiters(&self) -> usize {
        let waiting = |slot: &InFlight| {
            slot.shared
                .as_ref()
                .map_or(0, |flight| Arc::strong_count(flight) - 1)
        };
        self.shards
            .iter()
            .map(|s| s.lock().slots.iter().map(waiting).sum::<usize>())
            .sum()
    }
}

/// Held by the caller running a load. Dropping it without [`complete`]
/// (cancellation, panic) abandons the flight so a waiter takes over.
///
/// [`complete`]: LeaderGuard::complete
pub(crate) struct LeaderGuard {
    flights: Arc<Flights>,
    hash: u64,
    token: u64,
    finished: bool,
}

impl LeaderGuard {
    /// The load this guard leads.
    pub(crate) fn load(&self) -> LoadId {
        self.flights.load_id(self.hash, self.token)
    }

    /// Ends the load. With `Some(value)`, runs `store` with the key and a
    /// clone of the value if `keep` and the load was not doomed, and hands a
    /// clone to the waiters, if any; with `None` (a failed load), tells them
    /// it failed.
    pub(crate) fn complete<V: Clone + Send + Sync + 'static>(
        self,
        value: Option<&V>,
        keep: bool,
        store: impl FnOnce(CacheKey, V),
    ) {
        let state = |value: &V| State::Ready(Arc::new(value.clone()));
        self.finish(value, keep, state, store);
    }

    /// Ends a flight whose load failed with `kept`, a value kept past its
    /// TTL, standing in for the failure: stored again by `store` (unless an
    /// invalidation doomed the slot) and handed to the waiters as stale.
    pub(crate) fn complete_stale<V: Clone + Send + Sync + 'static>(
        self,
        kept: &V,
        store: impl FnOnce(CacheKey, V),
    ) {
        let state = |value: &V| State::Stale(Arc::new(value.clone()));
        self.finish(Some(kept), true, state, store);
    }

    fn finish<V: Clone + Send + Sync + 'static>(
        mut self,
        value: Option<&V>,
        keep: bool,
        state: impl FnOnce(&V) -> State,
        store: impl FnOnce(CacheKey, V),
    ) {
        self.finished = true;
        let mut table = self.flights.shard(self.hash).lock();
        let Some(slot) = self.take_slot(&mut table) else {
            return;
        };
        let InFlight {
            key,
            doomed,
            shared,
            ..
        } = slot;
        if let (Some(value), true, false) = (value, keep, doomed) {
            store(key, value.clone());
        }
        drop(table);
        if let Some(flight) = shared {
            flight.finish(match value {
                Some(value) => state(value),
                None => State::Failed,
            });
        }
    }

    fn take_slot(&self, table: &mut Table) -> Option<InFlight> {
        let entry = table
            .slots
            .find_entry(self.hash, |slot| slot.token == self.token);
        entry.ok().map(|entry| entry.remove().0)
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if !self.finished {
            let slot = self.take_slot(&mut self.flights.shard(self.hash).lock());
            if let Some(flight) = slot.and_then(|slot| slot.shared) {
                flight.finish(State::Abandoned);
            }
        }
    }
}
