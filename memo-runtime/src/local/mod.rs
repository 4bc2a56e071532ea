//! The in-memory tier: a sharded hash map of entries with a TTL, bounded by a
//! global eviction order (see `policy`).
//!
//! Locking: a hit takes one shard's read lock and nothing else. Every change
//! (store, delete, expiry, eviction, clear) takes the `order` lock first, then
//! the write lock of the shards it touches, one at a time. So the bound and
//! the FIFO order are exact across shards, hits on different shards never
//! contend, and no lock is ever held across an `.await` (nothing here is
//! async). A miss that starts a load takes its shard's write lock alone: the
//! loads in flight live beside the entries (see `loads`).

mod entry;
mod leader;
mod loads;
pub(crate) mod policy;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};

use crate::flight::Loads;
use crate::freshness::{Age, Clock, Deadlines, Freshness, Instant};
use crate::key::{CacheKey, KeyHasher, Probe, SHARDS, shard_of};
use crate::observe::{CacheStats, Event, EventCounters};
use entry::{Idle, RETRYING, StoredEntry, stored};
pub(crate) use leader::{Keep, LeaderGuard, Role};
use policy::{AccessCounts, Eviction, NodeId, Place, Policy};

/// One shard, alone on its cache lines so that hits on different shards do
/// not write to the same line.
#[repr(align(128))]
pub(crate) struct Shard {
    map: RwLock<Tables>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What one shard's lock guards: its entries, and the loads in flight of
/// its keys.
#[derive(Default)]
struct Tables {
    entries: HashTable<StoredEntry>,
    loads: Loads,
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
    entry.key.matches(probe.namespace, probe.id)
}

pub(crate) struct Store {
    // The shards, the length and the counters are shared with the cache's
    // entry in the registry (`memo_runtime::caches()`), which reads them.
    shards: Shards,
    hasher: KeyHasher,
    order: Mutex<Policy>,
    /// Mirrors `order.len()` so that `len()` takes no lock.
    len: Arc<AtomicUsize>,
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
    len: Weak<AtomicUsize>,
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
        let (shards, len, counters) = (
            self.shards.upgrade()?,
            self.len.upgrade()?,
            self.counters.upgrade()?,
        );
        let stats = stats_of(&shards, &counters);
        Some((len.load(Relaxed), self.max_size, stats))
    }
}

/// The statistics of a store: the hits and misses its shards counted, and
/// the events.
fn stats_of(shards: &[Shard], counters: &EventCounters) -> CacheStats {
    let (hits, misses) = shards.iter().fold((0, 0), |(hits, misses), shard| {
        (
            hits + shard.hits.load(Relaxed),
            misses + shard.misses.load(Relaxed),
        )
    });
    counters.snapshot(hits, misses)
}

impl Store {
    pub(crate) fn new(max_size: NonZeroUsize, eviction: Eviction, clock: Clock) -> Self {
        let shards = (0..*SHARDS)
            .map(|_| Shard {
                map: RwLock::default(),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })
            .collect();
        Store {
            born: clock.now(),
            shards,
            hasher: KeyHasher::new(),
            order: Mutex::new(Policy::new(eviction, max_size.get())),
            len: Arc::new(AtomicUsize::new(0)),
            max_size: max_size.get(),
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
        self.order.lock().eviction()
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Relaxed)
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
        let shard = self.shard(probe.hash);
        match self.find(probe) {
            Found::Fresh(value) | Found::Due(value) => {
                shard.hits.fetch_add(1, Relaxed);
                Some(value)
            }
            found => {
                shard.misses.fetch_add(1, Relaxed);
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
        match entry.age(now) {
            // The hit of almost every entry: no flag to act on.
            Age::Fresh if entry.flags == 0 => {
                entry.touch();
                Found::Fresh(value.clone())
            }
            age @ (Age::Fresh | Age::Due) => self.found_flagged(entry, value, now, age),
            Age::Stale => Found::Stale(value.clone()),
            Age::Expired => Found::Expired,
        }
    }

    /// [`find`](Self::find) of a fresh or due entry that is due, idles, or
    /// stands in for a failed reload.
    #[cold]
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
        let shard = self.shard(probe.hash);
        let (value, due) = match self.find(probe) {
            Found::Fresh(value) => (value, false),
            Found::Due(value) => (value, true),
            found => {
                shard.misses.fetch_add(1, Relaxed);
                if let Found::Expired = found {
                    self.remove_expired(probe);
                }
                return None;
            }
        };
        shard.hits.fetch_add(1, Relaxed);
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
            let deadlines = entry.times_mut();
            // Only the entry found due: a newer one stored meanwhile keeps
            // its own deadlines.
            if deadlines.refresh_at <= now {
                let later = now.checked_add(retry).unwrap_or(deadlines.fresh_until);
                deadlines.refresh_at = later.min(deadlines.fresh_until);
            }
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
        let deadlines = entry.times_mut();
        deadlines.refresh_at = deadlines.refresh_at.min(now);
        deadlines.fresh_until = deadlines.fresh_until.min(now);
        entry.clear_flag(RETRYING);
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
    /// the oldest entries while the cache is over its bound. `pick` runs
    /// under the same hold of the shard's write lock as the store, and what
    /// else it returns is returned.
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
        let mut order = self.order.lock();
        let shard_index = self.shard_index(hash);
        let place = Place { hash };
        let picked = {
            let mut tables = self.shards[shard_index].map.write();
            let (picked, chosen) = pick(&mut tables);
            let Some((key, value)) = chosen else {
                return picked;
            };
            let namespace = key.namespace();
            let entries = &mut tables.entries;
            let found = entries.find_mut(hash, |entry| entry.key.matches(namespace, key.id()));
            match found {
                Some(entry) => {
                    // A re-stored key is new again: it moves to the back.
                    order.restored(entry.node);
                    *entry = stored(key, deadlines, entry.node, value, retrying, now_nanos);
                }
                None => {
                    let node = order.admit(place);
                    entries.insert_unique(
                        hash,
                        stored(key, deadlines, node, value, retrying, now_nanos),
                        |entry| self.hasher.hash(entry.key.namespace(), entry.key.id()),
                    );
                }
            }
            picked
        };
        let mut evicted = 0;
        let mut entries = EntryAccess {
            store: self,
            locked: None,
        };
        while order.len() > self.max_size {
            let (node, place) = order
                .evict(&mut entries)
                .expect("over the bound, so not empty");
            entries.remove(node, place);
            evicted += 1;
        }
        drop(entries);
        self.len.store(order.len(), Relaxed);
        // Under the order lock: see `record_insert`.
        self.counters.record_insert(evicted);
        drop(order);
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
        let mut order = self.order.lock();
        let mut map = self.shard(probe.hash).map.write();
        if doom {
            map.loads.doom(probe);
        }
        let Ok(entry) = map
            .entries
            .find_entry(probe.hash, |entry| matches(probe, entry))
        else {
            return false;
        };
        if !condition(entry.get()) {
            return false;
        }
        let (removed, _) = entry.remove();
        order.remove(removed.node);
        self.len.store(order.len(), Relaxed);
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
        let mut order = self.order.lock();
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut tables = shard.map.write();
            tables.loads.doom_where(&loads);
            tables.entries.retain(|entry| {
                let doomed = doomed(entry);
                if doomed {
                    order.remove(entry.node);
                    removed += 1;
                }
                !doomed
            });
        }
        if order.len() == 0 {
            // Give the queues' memory back too.
            order.clear();
        }
        self.len.store(order.len(), Relaxed);
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
            |entry| entry.key.namespace() == namespace,
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
            len: Arc::downgrade(&self.len),
            counters: Arc::downgrade(&self.counters),
            max_size: self.max_size,
        }
    }
}

/// The store's entries, as eviction sees them: access counters to read, and
/// entries to remove. Used while the order lock is held, so no entry moves
/// meanwhile. It keeps the last shard it locked, so that reading a victim's
/// counter and removing it (usually the same entry) take one lock, not two.
struct EntryAccess<'a> {
    store: &'a Store,
    locked: Option<(usize, RwLockWriteGuard<'a, Tables>)>,
}

impl<'a> EntryAccess<'a> {
    /// The entries of the shard of `place`, locked.
    fn entries(&mut self, place: Place) -> &mut HashTable<StoredEntry> {
        let shard = self.store.shard_index(place.hash);
        if self.locked.as_ref().is_none_or(|(held, _)| *held != shard) {
            // The last shard is released before the next is locked: one at a time.
            self.locked = None;
            let guard = self.store.shards[shard].map.write();
            self.locked = Some((shard, guard));
        }
        let (_, tables) = self.locked.as_mut().expect("locked just above");
        &mut tables.entries
    }

    /// Removes the entry an evicted node stood for.
    fn remove(&mut self, node: NodeId, place: Place) {
        let entries = self.entries(place);
        if let Ok(entry) = entries.find_entry(place.hash, |entry| entry.node == node) {
            entry.remove();
        }
    }
}

impl AccessCounts for EntryAccess<'_> {
    fn take_access(&mut self, node: NodeId, place: Place) -> u8 {
        self.entries(place)
            .find(place.hash, |entry| entry.node == node)
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
