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
//! one slot pushed on a short list and taken off it, under a lock the store
//! takes anyway.
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
    /// The load's token, which tells it from a later one of the same key,
    /// and in its top bit ([`DOOMED`]) whether an invalidation happened
    /// while it ran (its value must then not be stored). One word, not a
    /// `bool` beside the token: a slot is built on the stack and copied
    /// into place word by word, and a word read back over a one-byte store
    /// waits for that store to complete.
    token_and_doom: u64,
    /// Created by the first caller that joins.
    pub(crate) shared: Option<Arc<Flight>>,
}

/// The bit of [`InFlight::token_and_doom`] that marks a doomed load; a
/// shard's tokens count up from 0 and never reach it.
const DOOMED: u64 = 1 << 63;

impl InFlight {
    /// Whether an invalidation happened while the load ran.
    pub(crate) fn is_doomed(&self) -> bool {
        self.token_and_doom & DOOMED != 0
    }

    fn token(&self) -> u64 {
        self.token_and_doom & !DOOMED
    }

    fn doom(&mut self) {
        self.token_and_doom |= DOOMED;
    }
}

/// How many loads in flight a shard keeps in its short list before it
/// spills into a hash table. A shard rarely runs more than a few at once
/// (a miss runs one, and a stampede of one key shares it), and a scan of a
/// few hashes costs less than a hash table's insert and remove, which every
/// miss paid when all slots were in the table.
const FEW: usize = 8;

/// The loads in flight of one store shard, and where its tokens are counted.
///
/// At most one slot that is not doomed exists per key, in either part:
/// [`join`](Self::join) looks in both before a caller leads.
#[derive(Default)]
pub(crate) struct Loads {
    /// The first [`FEW`] loads, in no order.
    few: Vec<InFlight>,
    /// The loads past those, while the short list is full.
    many: HashTable<InFlight>,
    next_token: u64,
}

impl Loads {
    /// The flight of the load of `probe` that a caller may join, and its
    /// token. A doomed load started before an invalidation: a caller after
    /// it must not get its value, so it is not joined.
    pub(crate) fn join(&mut self, probe: &Probe<'_>) -> Option<(Arc<Flight>, u64)> {
        let slot = self.joinable(probe)?;
        let flight = slot
            .shared
            .get_or_insert_with(|| Arc::new(Flight::running()));
        Some((Arc::clone(flight), slot.token()))
    }

    /// Starts a load of `probe` (beside a doomed one, if any); its token.
    pub(crate) fn lead(&mut self, probe: &Probe<'_>) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        debug_assert!(token & DOOMED == 0, "2^63 loads in one shard");
        let slot = || InFlight {
            key: CacheKey::from_parts(probe.namespace, probe.id),
            hash: probe.hash,
            token_and_doom: token,
            shared: None,
        };
        let len = self.few.len();
        if len < FEW {
            self.few.reserve_exact(FEW - len);
            // Built where it stays: a slot built on the stack and then
            // pushed was stored word by word and read back in 16-byte
            // moves, which wait for the stores to complete.
            self.few.spare_capacity_mut()[0].write(slot());
            // SAFETY: the element at `len` is initialised just above, and
            // `reserve_exact` made room for it.
            unsafe { self.few.set_len(len + 1) };
        } else {
            self.many
                .insert_unique(probe.hash, slot(), |slot| slot.hash);
        }
        token
    }

    /// Ends the load `token` of `hash`: its slot, if it is still there.
    pub(crate) fn take(&mut self, hash: u64, token: u64) -> Option<InFlight> {
        if let Some(at) = self.few.iter().position(|slot| slot.token() == token) {
            return Some(self.few.swap_remove(at));
        }
        let entry = self.many.find_entry(hash, |slot| slot.token() == token);
        entry.ok().map(|entry| entry.remove().0)
    }

    /// Dooms the load of `probe`, if one is in flight.
    pub(crate) fn doom(&mut self, probe: &Probe<'_>) {
        if let Some(slot) = self.joinable(probe) {
            slot.doom();
        }
    }

    /// The slot of `probe`'s load that is not doomed, if there is one.
    fn joinable(&mut self, probe: &Probe<'_>) -> Option<&mut InFlight> {
        let joinable =
            |slot: &InFlight| !slot.is_doomed() && slot.key.matches(probe.namespace, probe.id);
        let mut few = self.few.iter_mut();
        match few.find(|slot| slot.hash == probe.hash && joinable(slot)) {
            Some(slot) => Some(slot),
            None if self.many.is_empty() => None,
            None => self.many.find_mut(probe.hash, |slot| joinable(slot)),
        }
    }

    /// Dooms every load whose key `affected` picks.
    pub(crate) fn doom_where(&mut self, affected: impl Fn(&CacheKey) -> bool) {
        for slot in self.slots_mut().filter(|slot| affected(&slot.key)) {
            slot.doom();
        }
    }

    /// How many loads are in flight.
    pub(crate) fn len(&self) -> usize {
        self.few.len() + self.many.len()
    }

    /// How many callers wait on these loads: every holder of a shared
    /// flight but its slot.
    pub(crate) fn waiters(&self) -> usize {
        let waiting = |slot: &InFlight| {
            slot.shared
                .as_ref()
                .map_or(0, |flight| Arc::strong_count(flight) - 1)
        };
        self.few.iter().chain(self.many.iter()).map(waiting).sum()
    }

    /// Every slot, in both parts.
    fn slots_mut(&mut self) -> impl Iterator<Item = &mut InFlight> {
        self.few.iter_mut().chain(self.many.iter_mut())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Probes of distinct keys that all share one hash, so that the short
    /// list's hash check and the table's probe both have to look at keys.
    fn probes(ids: &[[u8; 1]]) -> Vec<Probe<'_>> {
        ids.iter()
            .map(|id| Probe {
                namespace: "loads::test",
                id,
                hash: 7,
            })
            .collect()
    }

    #[test]
    fn loads_past_the_short_list_are_joined_taken_and_doomed_by_key() {
        let ids: Vec<[u8; 1]> = (0..3 * FEW as u8).map(|i| [i]).collect();
        let probes = probes(&ids);
        let mut loads = Loads::default();
        let tokens: Vec<u64> = probes.iter().map(|probe| loads.lead(probe)).collect();
        assert_eq!(loads.len(), probes.len());
        assert!(loads.many.len() > FEW, "the test must spill into the table");
        for (probe, &token) in probes.iter().zip(&tokens) {
            let (_, joined) = loads.join(probe).expect("a load in flight");
            assert_eq!(joined, token, "joined another key's load");
        }
        assert_eq!(loads.waiters(), 0, "joins above dropped their flights");

        // Doom one key in the short list and one in the table: only those
        // stop being joinable.
        let (early, late) = (1, probes.len() - 1);
        loads.doom(&probes[early]);
        loads.doom(&probes[late]);
        for (i, probe) in probes.iter().enumerate() {
            let doomed = i == early || i == late;
            assert_eq!(loads.join(probe).is_none(), doomed, "key {i}");
        }
        let slot = loads.take(7, tokens[late]).expect("a doomed slot stays");
        assert!(slot.is_doomed() && slot.key.matches("loads::test", &ids[late]));

        // Ending the loads in another order than they started leaves each
        // remaining key with its own load.
        for &token in tokens.iter().step_by(2) {
            let slot = loads.take(7, token).expect("its slot");
            assert_eq!(slot.token(), token);
        }
        assert!(loads.take(7, tokens[0]).is_none(), "taken twice");
        for (i, probe) in probes.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
            if i != early && i != late {
                assert_eq!(loads.join(probe).map(|(_, t)| t), Some(tokens[i]));
            }
        }
        assert_eq!(loads.len(), probes.len() / 2 - 1);
    }

    #[test]
    fn a_caller_after_a_doomed_load_leads_its_own_beside_it() {
        let ids = [[1u8]];
        let probe = probes(&ids)[0];
        let mut loads = Loads::default();
        let first = loads.lead(&probe);
        let (waiting, _) = loads.join(&probe).expect("joinable");
        loads.doom(&probe);
        let second = loads.lead(&probe);
        assert_ne!(first, second);
        let (also_waiting, joined) = loads.join(&probe).expect("the second load");
        assert_eq!(joined, second);
        assert_eq!(loads.waiters(), 2, "one waiter on each load");
        drop((waiting, also_waiting));
        let doomed = loads.take(7, first).expect("the doomed slot");
        assert!(doomed.is_doomed() && doomed.shared.is_some());
    }
}
