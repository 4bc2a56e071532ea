//! The leader of a load: the guard that ends its flight (stored, failed,
//! or abandoned when it is dropped unfinished), how its value is kept
//! ([`Keep`]), and the role a caller that missed is given.

use std::sync::Arc;

use crate::flight::{Flight, LoadId, State};
use crate::freshness::{Deadlines, Instant};
use crate::key::shard_of;

use super::{Shards, Store};

/// What tells one store's loads from another's in a [`LoadId`]: the address
/// of its shards.
pub(crate) fn store_address(shards: &Shards) -> usize {
    Arc::as_ptr(shards).cast::<()>() as usize
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
        LoadId::new(store_address(self.shards.get()), self.hash, self.token)
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

    // Inlined, with `end_load`, into the two `complete`s: the `Keep` then
    // stays in registers, where passed by reference it was stored field by
    // field and read back in 16-byte moves that waited on those stores.
    #[inline(always)]
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
        if let Some(flight) = abandon(self.shards.get(), self.hash, self.token) {
            flight.finish(State::Abandoned);
        }
    }
}

/// How a load's value is stored when its flight ends.
#[derive(Clone, Copy)]
pub(crate) struct Keep {
    pub(crate) deadlines: Deadlines,
    /// When `deadlines` were computed: the entry's first "last hit".
    pub(crate) now: Instant,
    /// A kept value stored again after a failed reload: its hits count as
    /// stale values served.
    pub(crate) retrying: bool,
}

/// Removes the slot of the load `token` of `hash`, storing nothing: the load
/// failed, was not kept, or was abandoned (its leader dropped or panicked).
/// Returns its waiters' flight, if any.
pub(crate) fn abandon(shards: &Shards, hash: u64, token: u64) -> Option<Arc<Flight>> {
    let shard = &shards[shard_of(hash, shards.len())];
    let slot = shard.map.write().loads.take(hash, token);
    slot.and_then(|slot| slot.shared)
}
