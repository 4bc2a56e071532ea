//! Single flight: the state machine that makes concurrent misses of one key
//! run one load and share its result.
//!
//! A load in flight is an [`InFlight`] slot in the [`Loads`] of the store
//! shard its key belongs to, under that shard's lock (one table per shard,
//! beside its entries). The first caller to miss becomes its *leader* and
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
use crate::local::Store;
pub(crate) use crate::local::{Keep, Shards};
use wait::State;
pub(crate) use wait::{Flight, Outcome};

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
    pub(crate) fn new(shards: &Shards, hash: u64, token: u64) -> Self {
        LoadId {
            store: Arc::as_ptr(shards).cast::<()>() as usize,
            hash,
            token,
        }
    }
}

/// What a caller that missed should do.
pub(crate) enum Role<'a> {
    /// Run the load; the guard ends the flight.
    Leader(LeaderGuard<'a>),
    /// Wait for the leader's flight, the load `LoadId`.
    Waiter(Arc<Flight>, LoadId),
}

/// Held by the caller running a load. Dropping it without [`complete`]
/// (cancellation, panic) abandons the flight so a waiter takes over.
///
/// A caller that runs the load itself borrows the store's shards; a
/// reload that runs detached, and may outlive that borrow,
/// [`detach`](LeaderGuard::detach)es its guard, which then keeps them
/// alive. So the usual miss touches no reference count.
///
/// [`complete`]: LeaderGuard::complete
pub(crate) struct LeaderGuard<'a> {
    shards: Holder<'a>,
    hash: u64,
    token: u64,
    finished: bool,
}

/// How a guard reaches the store's shards.
enum Holder<'a> {
    Borrowed(&'a Shards),
    Owned(Shards),
}

impl Holder<'_> {
    fn get(&self) -> &Shards {
        match self {
            Holder::Borrowed(shards) => shards,
            Holder::Owned(shards) => shards,
        }
    }
}

impl<'a> LeaderGuard<'a> {
    pub(crate) fn new(shards: &'a Shards, hash: u64, token: u64) -> Self {
        LeaderGuard {
            shards: Holder::Borrowed(shards),
            hash,
            token,
            finished: false,
        }
    }

    /// The same guard, keeping the shards alive, for a load that runs
    /// detached (in a spawned task or thread).
    pub(crate) fn detach(mut self) -> LeaderGuard<'static> {
        let detached = LeaderGuard {
            shards: Holder::Owned(Shards::clone(self.shards.get())),
            hash: self.hash,
            token: self.token,
            finished: false,
        };
        // The detached guard leads the load now: this one must not abandon it.
        self.finished = true;
        detached
    }

    /// The load this guard leads.
    pub(crate) fn load(&self) -> LoadId {
        LoadId::new(self.shards.get(), self.hash, self.token)
    }

    /// Ends the load with `value` (`None`: it failed). With `keep`, the value
    /// is stored in `store` as the load's slot is removed, unless an
    /// invalidation doomed it; the waiters, if any, get a clone of it, or
    /// learn that it failed.
    pub(crate) fn complete<V: Clone + Send + Sync + 'static>(
        self,
        store: &Store,
        value: Option<&V>,
        keep: Option<Keep>,
    ) {
        let state = |value: &V| State::Ready(Arc::new(value.clone()));
        self.finish(store, value, keep, state);
    }

    /// Ends a flight whose load failed with `kept`, a value kept past its
    /// TTL, standing in for the failure: handed to the waiters as stale, and
    /// with `keep` stored again (unless an invalidation doomed the slot).
    pub(crate) fn complete_stale<V: Clone + Send + Sync + 'static>(
        self,
        store: &Store,
        kept: &V,
        keep: Option<Keep>,
    ) {
        let state = |value: &V| State::Stale(Arc::new(value.clone()));
        self.finish(store, Some(kept), keep, state);
    }

    fn finish<V: Clone + Send + Sync + 'static>(
        mut self,
        store: &Store,
        value: Option<&V>,
        keep: Option<Keep>,
        state: impl FnOnce(&V) -> State,
    ) {
        let stored = value.zip(keep);
        // If the value's `Clone` panics in `end_load`, the slot is still
        // there and this guard's drop abandons it.
        let flight = store.end_load(self.hash, self.token, stored);
        self.finished = true;
        if let Some(flight) = flight {
            // And if it panics making the waiters' copy, they are told the
            // load was abandoned rather than left waiting.
            let waiters = Abandoning(Some(flight));
            let outcome = match value {
                Some(value) => state(value),
                None => State::Failed,
            };
            waiters.finish(outcome);
        }
    }
}

/// A flight whose slot is gone, about to be finished: finished as abandoned
/// if it is dropped first (a panic making the waiters' copy).
struct Abandoning(Option<Arc<Flight>>);

impl Abandoning {
    fn finish(mut self, state: State) {
        if let Some(flight) = self.0.take() {
            flight.finish(state);
        }
    }
}

impl Drop for Abandoning {
    fn drop(&mut self) {
        if let Some(flight) = self.0.take() {
            flight.finish(State::Abandoned);
        }
    }
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(flight) = crate::local::abandon(self.shards.get(), self.hash, self.token) {
            flight.finish(State::Abandoned);
        }
    }
}
