//! The in-memory tier: a sharded hash map of entries with a TTL, each shard
//! bounded by its own eviction order (see `policy`).
//!
//! Locking: a hit takes one shard's read lock and nothing else. Every change
//! (store, delete, expiry, eviction, clear) takes the write lock of the one
//! shard it touches; a store evicts from its own shard, under the same
//! hold. So hits on different shards never contend, neither do misses, and
//! no lock is ever held across an `.await` (nothing here is async). A miss
//! that starts a load takes its shard's write lock too: the loads in flight
//! live beside the entries (see `loads`).
//!
//! The bound is split evenly among the shards (see [`shard_count`]), so the
//! store never holds more than `max_size` entries, but may evict a little
//! before it holds that many, when more of its keys fall in one shard than
//! in another. A store bounded below [`PER_SHARD`] twice over has one shard,
//! and an exact bound and order.

mod biased;
mod entry;
mod leader;
mod loads;
pub(crate) mod policy;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use hashbrown::HashTable;

use crate::flight::Loads;
use crate::freshness::{Age, Clock, Deadlines, Freshness, Instant};
use crate::key::{CacheKey, KeyHasher, Probe, SHARDS, shard_of};
use crate::observe::{CacheStats, Event, EventCounters, StoreCounts};
use biased::BiasedRwLock;
use entry::{Idle, Leftover, RETRYING, StoredEntry, stored, stored_over};
pub(crate) use leader::{Keep, LeaderGuard, Role};
use policy::{AccessCounts, Eviction, NodeId, Place, Policy};

/// One shard, alone on its cache lines so that hits on different shards do
/// not write to the same line.
#[repr(align(128))]
pub(crate) struct Shard {
    map: BiasedRwLock<Tables>,
    /// Written only under the write lock, so a load and a store (no locked
    /// read-modify-write); read without it by `len()` and `stats()`.
    tally: Tally,
}

/// A shard's length, stores and evictions, as `len()` and `stats()` read
/// them without its lock.
#[derive(Default)]
struct Tally {
    len: AtomicUsize,
    inserts: AtomicU64,
    evictions: AtomicU64,
}

/// Adds `n` to a counter that only the holder of the shard's write lock
/// writes.
#[inline(always)]
fn add_locked(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

/// What one shard's lock guards: its entries, the loads in flight of its
/// keys, and its eviction order.
struct Tables {
    entries: HashTable<StoredEntry>,
    loads: Loads,
    policy: Policy,
    /// The most entries the shard holds: its share of the store's bound.
    bound: usize,
}

/// The fewest entries a shard is bounded at, where the store's bound allows
/// more than one shard: smaller shards would split a small bound so finely
/// that one crowded shard evicts while the others have room.
const PER_SHARD: usize = 64;

/// How many shards a store bounded at `max_size` has: as many as the
/// process uses ([`SHARDS`]), but no more than leave each [`PER_SHARD`]
/// entries; a power of two.
fn shard_count(max_size: usize) -> usize {
    let most = (max_size / PER_SHARD).max(1);
    // The largest power of two at or below `most`.
    let fit = 1 << most.ilog2();
    fit.min(*SHARDS)
}

/// Shard `index`'s share of `max_size` among `shards`: an even split, the
/// remainder going to the first shards.
fn share(max_size: usize, shards: usize, index: usize) -> usize {
    max_size / shards + usize::from(index < max_size % shards)
}

/// A store's shards, shared with its registry entry and its leaders.
pub(crate) type Shards = Arc<[Shard]>;

/// What a lookup found.
pub(crate) enum Found<V> {
    /// A value to serve.
    Fresh(V),
    /// A value to serve, due for a reload in the background.
    Due(V),
    /// A value past its TTL but kept (stale-if-error will serve it when a
    /// reload fails); a lookup treats it as a miss.
    Stale(V),
    /// Past the time it was kept: to be reclaimed.
    Expired,
    /// Absent, or a value of another type.
    Absent,
}

impl<V> Found<V> {
    /// The value to serve, if any.
    pub(crate) fn into_fresh(self) -> Option<V> {
        match self {
            Found::Fresh(value) | Found::Due(value) => Some(value),
            Found::Stale(_) | Found::Expired | Found::Absent => None,
        }
    }
}

/// Whether `probe` names `entry`'s key.
#[inline(always)]
fn matches(probe: &Probe<'_>, entry: &StoredEntry) -> bool {
    entry.matches(probe.namespace, probe.id)
}

pub(crate) struct Store {
    // The shards and the counters are shared with the cache's entry in the
    // registry (`memo_runtime::caches()`), which reads them.
    shards: Shards,
    hasher: KeyHasher,
    eviction: Eviction,
    max_size: usize,
    /// The clock deadlines are read against.
    clock: Clock,
    /// When the store was made: entries keep the time of their last hit as
    /// nanoseconds since then (for time-to-idle).
    born: Instant,
    pub(crate) counters: Arc<EventCounters>,
}

/// What the registry reads of a store, without keeping it alive.
#[derive(Clone)]
pub(crate) struct Gauge {
    shards: Weak<[Shard]>,
    counters: Weak<EventCounters>,
    max_size: usize,
}

impl Gauge {
    /// Whether the store still exists.
    pub(crate) fn is_alive(&self) -> bool {
        self.counters.strong_count() > 0
    }

    /// The store's length, bound and statistics; `None` once it is gone.
    pub(crate) fn read(&self) -> Option<(usize, usize, CacheStats)> {
        let (shards, counters) = (self.shards.upgrade()?, self.counters.upgrade()?);
        let stats = stats_of(&shards, &counters);
        Some((len_of(&shards), self.max_size, stats))
    }
}

/// How many entries the shards hold.
fn len_of(shards: &[Shard]) -> usize {
    shards
        .iter()
        .map(|shard| shard.tally.len.load(Relaxed))
        .sum()
}

/// The statistics of a store: what its shards counted, and the events.
fn stats_of(shards: &[Shard], counters: &EventCounters) -> CacheStats {
    let counts = shards.iter().fold(StoreCounts::default(), |counts, shard| {
        let tally = &shard.tally;
        StoreCounts {
            inserts: counts.inserts + tally.inserts.load(Relaxed),
            evictions: counts.evictions + tally.evictions.load(Relaxed),
        }
    });
    counters.snapshot(counts)
}

impl Store {
    pub(crate) fn new(max_size: NonZeroUsize, eviction: Eviction, clock: Clock) -> Self {
        let max_size = max_size.get();
        let count = shard_count(max_size);
        let shards = (0..count)
            .map(|index| {
                let bound = share(max_size, count, index);
                let tables = Tables {
                    entries: HashTable::new(),
                    loads: Loads::default(),
                    policy: Policy::new(eviction, bound),
                    bound,
                };
                Shard {
                    map: BiasedRwLock::new(tables),
                    tally: Tally::default(),
                }
            })
            .collect();
        Store {
            born: clock.now(),
            shards,
            hasher: KeyHasher::new(),
            eviction,
            max_size,
            clock,
            counters: Arc::default(),
        }
    }

    #[inline(always)]
    pub(crate) fn probe<'a>(&self, namespace: &'static str, id: &'a [u8]) -> Probe<'a> {
        self.hasher.probe(namespace, id)
    }

    #[inline(always)]
    fn shard_index(&self, hash: u64) -> usize {
        shard_of(hash, self.shards.len())
    }

    #[inline(always)]
    fn shard(&self, hash: u64) -> &Shard {
        &self.shards[self.shard_index(hash)]
    }

    pub(crate) fn eviction(&self) -> Eviction {
        self.eviction
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    pub(crate) fn len(&self) -> usize {
        len_of(&self.shards)
    }

    /// How to store a value that lives `freshness` from now.
    #[inline]
    pub(crate) fn keep(&self, freshness: Freshness, retrying: bool) -> Keep {
        let now = self.clock.now();
        Keep {
            deadlines: freshness.deadlines(now),
            now,
            retrying,
        }
    }

    /// The time now, on this store's clock.
    #[inline(always)]
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The value under `probe` if it is there, fresh and a `V`; counts a
    /// hit or a miss, and reclaims the entry if it has expired.
    #[inline(always)]
    pub(crate) fn get<V: Clone + 'static>(&self, probe: &Probe<'_>) -> Option<V> {
        match self.find(probe) {
            Found::Fresh(value) | Found::Due(value) => {
                self.counters.hit();
                Some(value)
            }
            found => {
                self.counters.miss();
                if let Found::Expired = found {
                    self.remove_expired(probe);
                }
                None
            }
        }
    }

    /// Looks `probe` up without counting anything.
    #[inline(always)]
    pub(crate) fn find<V: Clone + 'static>(&self, probe: &Probe<'_>) -> Found<V> {
        self.find_in(&self.shard(probe.hash).map.read().entries, probe)
    }

    /// [`find`](Self::find) in the entries of `probe`'s shard, locked.
    #[inline(always)]
    fn find_in<V: Clone + 'static>(
        &self,
        entries: &HashTable<StoredEntry>,
        probe: &Probe<'_>,
    ) -> Found<V> {
        let Some(entry) = entries.find(probe.hash, |entry| matches(probe, entry)) else {
            return Found::Absent;
        };
        let Some(value) = entry.value::<V>() else {
            return Found::Absent;
        };
        let now = self.clock.now();
        if entry.flags == 0 {
            // Almost every entry: one deadline, and no flag to act on.
            if now < entry.fresh_until() {
                entry.touch();
                return Found::Fresh(value.clone());
            }
            return Found::Expired;
        }
        match entry.age(now) {
            age @ (Age::Fresh | Age::Due) => self.found_flagged(entry, value, now, age),
            Age::Stale => Found::Stale(value.clone()),
            Age::Expired => Found::Expired,
        }
    }

    /// [`find`](Self::find) of a fresh or due entry with flags: one that
    /// refreshes ahead, is kept past its TTL, idles, or stands in for a
    /// failed reload. Out of line, so that the plain hit stays small.
    #[inline(never)]
    fn found_flagged<V: Clone>(
        &self,
        entry: &StoredEntry,
        value: &V,
        now: Instant,
        age: Age,
    ) -> Found<V> {
        let age = match entry.idle() {
            Some(idle) => self.idle_age(entry, idle, now, age),
            None => age,
        };
        match age {
            Age::Fresh => {
                entry.touch();
                if entry.flags & RETRYING != 0 {
                    self.counters.record(Event::StaleServed);
                }
                Found::Fresh(value.clone())
            }
            Age::Due => {
                entry.touch();
                Found::Due(value.clone())
            }
            Age::Stale => Found::Stale(value.clone()),
            Age::Expired => Found::Expired,
        }
    }

    /// The age of an entry with time-to-idle that its deadlines call fresh
    /// (or due): stale, or expired, once its idle time passed since its
    /// last hit; otherwise this lookup is its new last hit.
    fn idle_age(&self, entry: &StoredEntry, idle: &Idle, now: Instant, age: Age) -> Age {
        let now_nanos = self.nanos_since_born(now);
        if now_nanos.saturating_sub(idle.last_hit.load(Relaxed)) < idle.nanos.get() {
            idle.last_hit.store(now_nanos, Relaxed);
            return age;
        }
        // Kept only by a stale window, as a value past its TTL is.
        let deadlines = entry.deadlines();
        let kept = deadlines.keep_until > deadlines.fresh_until;
        if kept && !deadlines.is_expired(now) {
            Age::Stale
        } else {
            Age::Expired
        }
    }

    /// Whether `entry` may be reclaimed at `now`: past its keep deadline,
    /// or idle too long with no stale window to keep it.
    fn is_expired(&self, entry: &StoredEntry, now: Instant) -> bool {
        let deadlines = entry.deadlines();
        if deadlines.is_expired(now) {
            return true;
        }
        match entry.idle() {
            Some(idle) if deadlines.keep_until == deadlines.fresh_until => {
                let idle_for = self
                    .nanos_since_born(now)
                    .saturating_sub(idle.last_hit.load(Relaxed));
                idle_for >= idle.nanos.get()
            }
            _ => false,
        }
    }

    fn nanos_since_born(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.born).as_nanos()).unwrap_or(u64::MAX)
    }

    /// [`get`](Self::get) for callers that refresh ahead: the value, and
    /// whether it is due for a reload; a due value counts as a hit.
    #[inline(always)]
    pub(crate) fn get_refreshing<V: Clone + 'static>(
        &self,
        probe: &Probe<'_>,
    ) -> Option<(V, bool)> {
        let (value, due) = match self.find(probe) {
            Found::Fresh(value) => (value, false),
            Found::Due(value) => (value, true),
            found => {
                self.counters.miss();
                if let Found::Expired = found {
                    self.remove_expired(probe);
                }
                return None;
            }
        };
        self.counters.hit();
        Some((value, due))
    }

    /// After a failed background reload: the entry under `probe` is not
    /// due again before `retry` from now (nor after its TTL), so that the
    /// failing body is not called again on the next hit.
    pub(crate) fn postpone_refresh(&self, probe: &Probe<'_>, retry: std::time::Duration) {
        let now = self.clock.now();
        let mut map = self.shard(probe.hash).map.write();
        if let Some(entry) = map
            .entries
            .find_mut(probe.hash, |entry| matches(probe, entry))
        {
            // Only the entry found due: a newer one stored meanwhile keeps
            // its own deadlines.
            entry.postpone_refresh(now, now.checked_add(retry));
        }
    }

    /// Makes the entry under `probe` expire now: no longer a hit, but kept
    /// for what is left of its stale window (a `refresh` companion's
    /// reload falls back on it if it fails). True if there was one.
    pub(crate) fn expire(&self, probe: &Probe<'_>) -> bool {
        let now = self.clock.now();
        let mut map = self.shard(probe.hash).map.write();
        map.loads.doom(probe);
        let Some(entry) = map
            .entries
            .find_mut(probe.hash, |entry| matches(probe, entry))
        else {
            return false;
        };
        entry.expire_at(now);
        true
    }

    /// The value under `probe` and its deadlines, if it is a `V` that is
    /// fresh or kept past its TTL: what a failed reload falls back on.
    pub(crate) fn find_kept<V: Clone + 'static>(
        &self,
        probe: &Probe<'_>,
    ) -> Option<(V, Deadlines)> {
        let map = self.shard(probe.hash).map.read();
        let entry = map
            .entries
            .find(probe.hash, |entry| matches(probe, entry))?;
        let value = entry.value::<V>()?;
        let deadlines = entry.deadlines();
        (!deadlines.is_expired(self.clock.now())).then(|| (value.clone(), deadlines))
    }

    /// Stores `value` under `key` as the newest entry, evicting the oldest
    /// entries while the cache is over its bound.
    pub(crate) fn insert<V: Send + Sync + 'static>(
        &self,
        key: CacheKey,
        hash: u64,
        value: V,
        keep: Keep,
    ) {
        self.insert_with(hash, keep, |_| ((), Some((key, value))));
    }

    /// Stores the key and value that `pick` chooses (if it chooses one)
    /// under `hash` as the newest entry, with `keep`'s deadlines, evicting
    /// from its shard while the shard is over its bound. `pick` runs under
    /// the same hold of the shard's write lock as the store, and what else
    /// it returns is returned.
    #[inline]
    fn insert_with<V: Send + Sync + 'static, R>(
        &self,
        hash: u64,
        keep: Keep,
        pick: impl FnOnce(&mut Tables) -> (R, Option<(CacheKey, V)>),
    ) -> R {
        let Keep {
            deadlines,
            now,
            retrying,
        } = keep;
        let now_nanos = self.nanos_since_born(now);
        let shard = self.shard(hash);
        let mut tables = shard.map.write();
        let (picked, chosen) = pick(&mut tables);
        let Some((key, value)) = chosen else {
            return picked;
        };
        let Tables {
            entries,
            policy,
            bound,
            ..
        } = &mut *tables;
        let namespace = key.namespace();
        let found = entries.find_mut(hash, |entry| entry.matches(namespace, key.id()));
        let mut evicted = 0;
        // Dropped once the lock is released.
        let leftover;
        if let Some(entry) = found {
            // A re-stored key is new again: it moves to the back.
            policy.restored(entry.node);
            let new = stored(key, deadlines, entry.node, value, retrying, now_nanos);
            leftover = Leftover::entry(std::mem::replace(entry, new));
        } else {
            // A full shard makes room first, so that the new entry can
            // take over the victim's memory.
            let victim = if policy.len() >= *bound {
                evicted += 1;
                evict(policy, entries)
            } else {
                None
            };
            let node = policy.admit(Place { hash });
            let entry;
            (entry, leftover) =
                stored_over(victim, key, deadlines, node, value, retrying, now_nanos);
            entries.insert_unique(hash, entry, |entry| {
                self.hasher.hash(entry.namespace(), entry.id())
            });
        }
        debug_assert!(policy.len() <= *bound, "one in, at most one out");
        let tally = &shard.tally;
        tally.len.store(policy.len(), Relaxed);
        add_locked(&tally.inserts, 1);
        if evicted > 0 {
            add_locked(&tally.evictions, evicted);
        }
        drop(tables);
        drop(leftover);
        picked
    }

    /// Invalidates the key of `probe`: removes its entry, and dooms its load
    /// in flight (which started before, so its value must not be stored).
    /// True if there was an entry.
    pub(crate) fn remove(&self, probe: &Probe<'_>) -> bool {
        let removed = self.remove_where(probe, true, |_| true);
        self.counters.record(Event::Invalidated(removed as u64));
        removed
    }

    fn remove_expired(&self, probe: &Probe<'_>) {
        let now = self.clock.now();
        let removed = self.remove_where(probe, false, |entry| self.is_expired(entry, now));
        self.counters.record(Event::Expired(removed as u64));
    }

    /// Removes the entry under `probe` if `condition` holds for it; with
    /// `doom`, dooms its load in flight under the same lock.
    fn remove_where(
        &self,
        probe: &Probe<'_>,
        doom: bool,
        condition: impl Fn(&StoredEntry) -> bool,
    ) -> bool {
        let shard = self.shard(probe.hash);
        let mut tables = shard.map.write();
        let Tables {
            entries,
            loads,
            policy,
            ..
        } = &mut *tables;
        if doom {
            loads.doom(probe);
        }
        let Ok(entry) = entries.find_entry(probe.hash, |entry| matches(probe, entry)) else {
            return false;
        };
        if !condition(entry.get()) {
            return false;
        }
        let (removed, _) = entry.remove();
        policy.remove(removed.node);
        shard.tally.len.store(policy.len(), Relaxed);
        // Its value's `Drop` runs with the shard unlocked.
        drop(tables);
        drop(removed);
        true
    }

    /// Removes every entry for which `doomed` is true, and dooms the loads
    /// in flight whose key `loads` picks, each shard under one hold of its
    /// lock; returns how many entries it removed.
    fn remove_all_where(
        &self,
        doomed: impl Fn(&StoredEntry) -> bool,
        loads: impl Fn(&CacheKey) -> bool,
    ) -> u64 {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut tables = shard.map.write();
            let Tables {
                entries,
                loads: in_flight,
                policy,
                ..
            } = &mut *tables;
            in_flight.doom_where(&loads);
            entries.retain(|entry| {
                let doomed = doomed(entry);
                if doomed {
                    policy.remove(entry.node);
                    removed += 1;
                }
                !doomed
            });
            if policy.len() == 0 {
                // Give the queues' memory back too.
                policy.clear();
            }
            shard.tally.len.store(policy.len(), Relaxed);
        }
        removed
    }

    /// Removes every entry and dooms every load in flight; returns how many
    /// entries there were.
    pub(crate) fn clear(&self) -> u64 {
        let removed = self.remove_all_where(|_| true, |_| true);
        self.counters.record(Event::Invalidated(removed));
        removed
    }

    /// Removes the entries of one namespace (one memoized function), and
    /// dooms its loads in flight.
    pub(crate) fn clear_namespace(&self, namespace: &str) -> u64 {
        let removed = self.remove_all_where(
            |entry| entry.namespace() == namespace,
            |key| key.namespace() == namespace,
        );
        self.counters.record(Event::Invalidated(removed));
        removed
    }

    /// Removes every expired entry; returns how many.
    pub(crate) fn cleanup_expired(&self) -> usize {
        let now = self.clock.now();
        let removed = self.remove_all_where(|entry| self.is_expired(entry, now), |_| false);
        self.counters.record(Event::Expired(removed));
        removed as usize
    }

    pub(crate) fn stats(&self) -> CacheStats {
        stats_of(&self.shards, &self.counters)
    }

    /// A handle on this store's length and statistics for the registry.
    pub(crate) fn gauge(&self) -> Gauge {
        Gauge {
            shards: Arc::downgrade(&self.shards),
            counters: Arc::downgrade(&self.counters),
            max_size: self.max_size,
        }
    }
}

/// Evicts the entry `policy` chooses from `entries`, and returns it; `None`
/// if it was not there (it always is: every entry has a node and every
/// node an entry).
fn evict(policy: &mut Policy, entries: &mut HashTable<StoredEntry>) -> Option<StoredEntry> {
    let mut victims = Victims {
        entries,
        found: None,
    };
    let (node, place) = policy
        .evict(&mut victims)
        .expect("evicting from a full shard, so not empty");
    victims.remove(node, place)
}

/// A shard's entries, as its eviction policy sees them: access counters to
/// read, and entries to remove. It remembers where it found the last
/// candidate, so that reading a victim's counter and removing it (usually
/// the same entry) probe the table once.
struct Victims<'a> {
    entries: &'a mut HashTable<StoredEntry>,
    /// The node last read and its bucket; the table has not changed since.
    found: Option<(NodeId, usize)>,
}

impl Victims<'_> {
    /// Removes the entry an evicted node stood for, and returns it.
    fn remove(&mut self, node: NodeId, place: Place) -> Option<StoredEntry> {
        let bucket = match self.found.take() {
            Some((found, bucket)) if found == node => Some(bucket),
            _ => self
                .entries
                .find_bucket_index(place.hash, |entry| entry.node == node),
        };
        let entry = self.entries.get_bucket_entry(bucket?).ok()?;
        debug_assert!(entry.get().node == node);
        Some(entry.remove().0)
    }
}

impl AccessCounts for Victims<'_> {
    fn take_access(&mut self, node: NodeId, place: Place) -> u8 {
        let Some(bucket) = self
            .entries
            .find_bucket_index(place.hash, |entry| entry.node == node)
        else {
            self.found = None;
            return 0;
        };
        self.found = Some((node, bucket));
        self.entries
            .get_bucket(bucket)
            .map_or(0, |entry| entry.take_access())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::freshness::ManualClock;

    fn store(clock: &ManualClock, max_size: usize) -> Store {
        let max_size = NonZeroUsize::new(max_size).unwrap();
        Store::new(max_size, Eviction::Fifo, Clock::from(clock.clone()))
    }

    fn put(store: &Store, id: &'static [u8], value: u32, freshness: Freshness) {
        put_value(store, id, value, freshness);
    }

    fn put_value<V: Send + Sync + 'static>(
        store: &Store,
        id: &'static [u8],
        value: V,
        freshness: Freshness,
    ) {
        let probe = store.probe("ns", id);
        let keep = store.keep(freshness, false);
        store.insert(CacheKey::from_parts("ns", id), probe.hash, value, keep);
    }

    const KEPT: Freshness = Freshness {
        ttl: Duration::from_secs(10),
        stale_for: Duration::from_secs(20),
        refresh: None,
        idle: None,
    };

    #[test]
    fn a_stale_entry_is_a_miss_but_is_kept_until_its_second_deadline() {
        let clock = ManualClock::new();
        let store = store(&clock, 10);
        put(&store, b"k", 7, KEPT);
        let probe = store.probe("ns", b"k");
        assert_eq!(store.get::<u32>(&probe), Some(7));

        clock.advance(Duration::from_secs(10));
        assert!(matches!(store.find::<u32>(&probe), Found::Stale(7)));
        assert_eq!(store.get::<u32>(&probe), None, "stale is a miss");
        assert_eq!(store.len(), 1, "a stale lookup reclaims nothing");
        assert_eq!(store.cleanup_expired(), 0, "not past its second deadline");

        clock.advance(Duration::from_secs(20));
        assert!(matches!(store.find::<u32>(&probe), Found::Expired));
        assert_eq!(store.cleanup_expired(), 1);
        assert_eq!(store.len(), 0);
        let stats = store.stats();
        assert_eq!((stats.hits, stats.misses, stats.expirations), (1, 1, 1));
    }

    #[test]
    fn a_lookup_reclaims_an_entry_past_its_second_deadline() {
        let clock = ManualClock::new();
        let store = store(&clock, 10);
        put(&store, b"k", 7, KEPT);
        clock.advance(KEPT.ttl + KEPT.stale_for);
        assert_eq!(store.get::<u32>(&store.probe("ns", b"k")), None);
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn every_way_out_of_the_store_drops_the_value_once() {
        let clock = ManualClock::new();
        let store = store(&clock, 2);
        let value = Arc::new(String::from("v"));
        let insert = |id: &'static [u8]| put_value(&store, id, Arc::clone(&value), KEPT);
        insert(b"a");
        insert(b"a"); // replaced
        assert_eq!(Arc::strong_count(&value), 2);
        insert(b"b");
        insert(b"c"); // evicts one
        assert_eq!(Arc::strong_count(&value), 3);
        assert!(store.remove(&store.probe("ns", b"c")));
        assert_eq!(Arc::strong_count(&value), 2);
        store.clear();
        assert_eq!(Arc::strong_count(&value), 1);
        insert(b"d");
        assert_eq!(Arc::strong_count(&value), 2);
        drop(store);
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn the_bound_is_split_into_shares_of_at_least_per_shard_entries() {
        for max_size in [1, 2, 127, 255, 256, 1000, 4096, 10_000, 1 << 20, usize::MAX] {
            let count = shard_count(max_size);
            assert!(
                count.is_power_of_two() && count <= *SHARDS,
                "{max_size}: {count}"
            );
            let shares: Vec<usize> = (0..count).map(|i| share(max_size, count, i)).collect();
            if max_size < usize::MAX {
                assert_eq!(shares.iter().sum::<usize>(), max_size, "{max_size}");
            }
            if count > 1 {
                assert!(
                    shares.iter().all(|&s| s >= PER_SHARD),
                    "{max_size}: {shares:?}"
                );
            }
            let spread = shares.iter().max().unwrap() - shares.iter().min().unwrap();
            assert!(spread <= 1, "{max_size}: {shares:?}");
        }
        assert_eq!(shard_count(2 * PER_SHARD - 1), 1, "a small bound is exact");
    }

    #[test]
    fn a_store_of_many_shards_never_holds_more_than_its_bound() {
        let clock = ManualClock::new();
        let max_size = 4 * PER_SHARD;
        for eviction in [Eviction::Fifo, Eviction::S3Fifo] {
            let store = Store::new(
                NonZeroUsize::new(max_size).unwrap(),
                eviction,
                Clock::from(clock.clone()),
            );
            assert_eq!(store.shards.len(), 4.min(*SHARDS));
            for i in 0..10 * max_size as u64 {
                let id = i.to_le_bytes();
                let probe = store.probe("ns", &id);
                let keep = store.keep(KEPT, false);
                store.insert(CacheKey::from_parts("ns", &id), probe.hash, i, keep);
                assert!(store.len() <= max_size, "{eviction}: {}", store.len());
            }
            let stats = store.stats();
            assert_eq!(stats.inserts, 10 * max_size as u64);
            assert_eq!(stats.evictions, stats.inserts - store.len() as u64);
            // Every shard is full: no more than a few entries short in all.
            assert!(
                store.len() > max_size - store.shards.len(),
                "{}",
                store.len()
            );
            let len = store.len();
            assert_eq!(store.clear(), len as u64);
            assert_eq!(store.len(), 0);
        }
    }

    #[test]
    fn values_leaving_the_store_are_dropped_with_their_shard_unlocked() {
        use std::sync::LazyLock;
        use std::sync::atomic::AtomicUsize;

        static STORE: LazyLock<Store> = LazyLock::new(|| {
            let clock = Clock::from(ManualClock::new());
            Store::new(NonZeroUsize::new(1).unwrap(), Eviction::Fifo, clock)
        });
        static UNLOCKED: AtomicUsize = AtomicUsize::new(0);
        static LOCKED: AtomicUsize = AtomicUsize::new(0);
        /// Looks at its shard's lock when dropped, as a `Drop` that calls
        /// into the cache would take it.
        struct Probing;
        impl Drop for Probing {
            fn drop(&mut self) {
                let unlocked = !STORE.shards[0].map.is_write_locked();
                let counter = if unlocked { &UNLOCKED } else { &LOCKED };
                counter.fetch_add(1, Relaxed);
            }
        }
        let put = |id: &'static [u8]| {
            let probe = STORE.probe("ns", id);
            let keep = STORE.keep(KEPT, false);
            STORE.insert(CacheKey::from_parts("ns", id), probe.hash, Probing, keep);
        };
        put(b"a");
        put(b"a"); // replaced
        put(b"b"); // evicts a
        assert!(STORE.remove(&STORE.probe("ns", b"b")));
        assert_eq!(LOCKED.load(Relaxed), 0, "dropped under the lock");
        assert_eq!(UNLOCKED.load(Relaxed), 3);
    }

    #[test]
    fn the_bound_reclaims_stale_entries_like_any_other() {
        let clock = ManualClock::new();
        let store = store(&clock, 2);
        put(&store, b"a", 1, KEPT);
        put(&store, b"b", 2, KEPT);
        clock.advance(KEPT.ttl);
        put(&store, b"c", 3, KEPT);
        assert_eq!(store.len(), 2);
        assert!(matches!(
            store.find::<u32>(&store.probe("ns", b"a")),
            Found::Absent
        ));
        assert_eq!(store.stats().evictions, 1);
    }
}
