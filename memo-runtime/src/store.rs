//! The in-memory tier: a sharded hash map of entries with a TTL, bounded by a
//! global eviction order (see `policy`).
//!
//! Locking: a hit takes one shard's read lock and nothing else. Every change
//! (store, delete, expiry, eviction, clear) takes the `order` lock first, then
//! the write lock of the shards it touches, one at a time. So the bound and
//! the FIFO order are exact across shards, hits on different shards never
//! contend, and no lock is ever held across an `.await` (nothing here is
//! async).

use std::any::{Any, TypeId};
use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroUsize;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, Instant};
use crate::key::CacheKey;
use crate::policy::{Counters as AccessCounters, Eviction, NodeId, Place, Policy};
use crate::stats::{CacheStats, Counters};

/// One stored entry with its value, in a single allocation: the table holds
/// only a pointer per bucket, so its spare buckets cost 8 bytes each, not the
/// size of an entry.
struct Entry<V: ?Sized> {
    key: CacheKey,
    expires_at: Instant,
    node: NodeId,
    /// Hits since stored, up to [`MAX_ACCESS`], for the eviction policy.
    access: AtomicU8,
    /// `value`'s type, kept beside it so a hit compares it without a call
    /// through the `Any` vtable.
    type_id: TypeId,
    value: V,
}

/// An entry of any value type; lookups downcast to the type they ask for.
type Slot = Box<Entry<dyn Any + Send + Sync>>;

/// Where a slot's access counter saturates (a 2-bit counter, as in S3-FIFO).
const MAX_ACCESS: u8 = 3;

impl Entry<dyn Any + Send + Sync> {
    /// Counts a hit for the eviction policy. A load and, until the counter
    /// saturates, a store: no read-modify-write, and no write at all to the
    /// entries that are hit most. Concurrent hits may count once; it is a
    /// heuristic.
    #[inline(always)]
    fn touch(&self) {
        let access = self.access.load(Relaxed);
        if access < MAX_ACCESS {
            self.access.store(access + 1, Relaxed);
        }
    }

    #[inline(always)]
    fn value<V: 'static>(&self) -> Option<&V> {
        if self.type_id == TypeId::of::<V>() {
            // SAFETY: `value`'s concrete type has the id `type_id`, checked
            // equal to `V`'s just above; this is the cast
            // `<dyn Any>::downcast_ref` makes after the same check.
            Some(unsafe { &*(&self.value as *const (dyn Any + Send + Sync) as *const V) })
        } else {
            None
        }
    }
}

/// One shard, alone on its cache lines so that hits on different shards do
/// not write to the same line.
#[repr(align(128))]
struct Shard {
    map: RwLock<HashTable<Slot>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What a lookup found.
pub(crate) enum Found<V> {
    Value(V),
    Expired,
    /// Absent, or a value of another type.
    Nothing,
}

impl<V> Found<V> {
    pub(crate) fn into_value(self) -> Option<V> {
        match self {
            Found::Value(value) => Some(value),
            Found::Expired | Found::Nothing => None,
        }
    }
}

/// A key to look up, hashed once.
#[derive(Clone, Copy)]
pub(crate) struct Probe<'a> {
    pub(crate) namespace: &'static str,
    pub(crate) id: &'a [u8],
    pub(crate) hash: u64,
}

impl Probe<'_> {
    #[inline(always)]
    fn matches(&self, slot: &Slot) -> bool {
        slot.key.matches(self.namespace, self.id)
    }
}

/// Four shards per core, up to 64: enough that two threads rarely meet.
static SHARDS: LazyLock<usize> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(4, NonZeroUsize::get);
    (cores * 4).next_power_of_two().min(64)
});

pub(crate) struct Store {
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
    order: Mutex<Policy>,
    /// Mirrors `order.len()` so that `len()` takes no lock.
    len: AtomicUsize,
    max_size: usize,
    /// The clock deadlines are read against.
    clock: Clock,
    pub(crate) counters: Counters,
}

impl Store {
    pub(crate) fn new(max_size: NonZeroUsize, eviction: Eviction, clock: Clock) -> Self {
        let shards = (0..*SHARDS)
            .map(|_| Shard {
                map: RwLock::new(HashTable::new()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })
            .collect();
        Store {
            shards,
            hasher: foldhash::fast::RandomState::default(),
            order: Mutex::new(Policy::new(eviction, max_size.get())),
            len: AtomicUsize::new(0),
            max_size: max_size.get(),
            clock,
            counters: Counters::default(),
        }
    }

    #[inline(always)]
    pub(crate) fn probe<'a>(&self, namespace: &'static str, id: &'a [u8]) -> Probe<'a> {
        Probe {
            namespace,
            id,
            hash: self.hash(namespace, id),
        }
    }

    #[inline(always)]
    fn hash(&self, namespace: &str, id: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(id);
        hasher.write_usize(namespace.len());
        hasher.finish()
    }

    /// The shard of a hash. hashbrown uses the low bits for the bucket and the
    /// top seven as the tag, so the shard comes from bits in between.
    #[inline(always)]
    fn shard_index(&self, hash: u64) -> usize {
        (hash >> 32) as usize & (self.shards.len() - 1)
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

    /// The time now, on this store's clock.
    #[inline(always)]
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The value under `probe` if it is there, unexpired and a `V`; counts a
    /// hit or a miss, and reclaims the entry if it has expired.
    #[inline(always)]
    pub(crate) fn get<V: Clone + 'static>(&self, probe: &Probe<'_>) -> Option<V> {
        let shard = self.shard(probe.hash);
        match self.find(probe) {
            Found::Value(value) => {
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
        let map = self.shard(probe.hash).map.read();
        let Some(slot) = map.find(probe.hash, |slot| probe.matches(slot)) else {
            return Found::Nothing;
        };
        if self.clock.now() >= slot.expires_at {
            return Found::Expired;
        }
        match slot.value::<V>() {
            Some(value) => {
                slot.touch();
                Found::Value(value.clone())
            }
            None => Found::Nothing,
        }
    }

    /// Stores `value` under `key` as the newest entry, evicting the oldest
    /// entries while the cache is over its bound.
    pub(crate) fn insert<V: Send + Sync + 'static>(
        &self,
        key: CacheKey,
        hash: u64,
        value: V,
        expires_at: Instant,
    ) {
        let entry = |key, node| -> Slot {
            Box::new(Entry {
                key,
                expires_at,
                node,
                access: AtomicU8::new(0),
                type_id: TypeId::of::<V>(),
                value,
            })
        };
        let mut order = self.order.lock();
        let shard_index = self.shard_index(hash);
        let place = Place {
            shard: shard_index as u32,
            hash,
        };
        {
            let mut map = self.shards[shard_index].map.write();
            let namespace = key.namespace();
            let found = map.find_mut(hash, |slot| slot.key.matches(namespace, key.id()));
            match found {
                Some(slot) => {
                    // A re-stored key is new again: it moves to the back.
                    order.restored(slot.node);
                    *slot = entry(key, slot.node);
                }
                None => {
                    let node = order.admit(place);
                    map.insert_unique(hash, entry(key, node), |slot| {
                        self.hash(slot.key.namespace(), slot.key.id())
                    });
                }
            }
        }
        let mut evicted = 0;
        while order.len() > self.max_size {
            let (node, place) = order
                .evict(&mut SlotCounters(self))
                .expect("over the bound, so not empty");
            self.remove_slot(node, place);
            evicted += 1;
        }
        self.len.store(order.len(), Relaxed);
        drop(order);
        Counters::add(&self.counters.inserts, 1);
        Counters::add(&self.counters.evictions, evicted);
    }

    /// Removes the entry an evicted node stood for.
    fn remove_slot(&self, node: NodeId, place: Place) {
        let mut map = self.shards[place.shard as usize].map.write();
        if let Ok(entry) = map.find_entry(place.hash, |slot| slot.node == node) {
            entry.remove();
        }
    }

    /// Removes the entry under `probe`; true if there was one.
    pub(crate) fn remove(&self, probe: &Probe<'_>) -> bool {
        let removed = self.remove_where(probe, |_| true);
        Counters::add(&self.counters.invalidations, removed as u64);
        removed
    }

    fn remove_expired(&self, probe: &Probe<'_>) {
        let now = self.clock.now();
        let removed = self.remove_where(probe, |slot| slot.expires_at <= now);
        Counters::add(&self.counters.expirations, removed as u64);
    }

    fn remove_where(&self, probe: &Probe<'_>, condition: impl Fn(&Slot) -> bool) -> bool {
        let mut order = self.order.lock();
        let mut map = self.shard(probe.hash).map.write();
        let Ok(entry) = map.find_entry(probe.hash, |slot| probe.matches(slot)) else {
            return false;
        };
        if !condition(entry.get()) {
            return false;
        }
        let (slot, _) = entry.remove();
        order.remove(slot.node);
        self.len.store(order.len(), Relaxed);
        true
    }

    /// Removes every entry for which `doomed` is true; returns how many.
    fn remove_all_where(&self, doomed: impl Fn(&Slot) -> bool) -> u64 {
        let mut order = self.order.lock();
        let mut removed = 0;
        for shard in self.shards.iter() {
            shard.map.write().retain(|slot| {
                let doomed = doomed(slot);
                if doomed {
                    order.remove(slot.node);
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

    /// Removes every entry; returns how many there were.
    pub(crate) fn clear(&self) -> u64 {
        let removed = self.remove_all_where(|_| true);
        Counters::add(&self.counters.invalidations, removed);
        removed
    }

    /// Removes the entries of one namespace (one memoized function).
    pub(crate) fn clear_namespace(&self, namespace: &str) -> u64 {
        let removed = self.remove_all_where(|slot| slot.key.namespace() == namespace);
        Counters::add(&self.counters.invalidations, removed);
        removed
    }

    /// Removes every expired entry; returns how many.
    pub(crate) fn cleanup_expired(&self) -> usize {
        let now = self.clock.now();
        let removed = self.remove_all_where(|slot| slot.expires_at <= now);
        Counters::add(&self.counters.expirations, removed);
        removed as usize
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let (hits, misses) = self.shards.iter().fold((0, 0), |(hits, misses), shard| {
            (
                hits + shard.hits.load(Relaxed),
                misses + shard.misses.load(Relaxed),
            )
        });
        self.counters.snapshot(hits, misses)
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

/// The store's entries, as the eviction policy sees them: access counters.
/// Used while the order lock is held, so no entry moves meanwhile.
struct SlotCounters<'a>(&'a Store);

impl AccessCounters for SlotCounters<'_> {
    fn take_access(&mut self, node: NodeId, place: Place) -> u8 {
        let map = self.0.shards[place.shard as usize].map.read();
        map.find(place.hash, |slot| slot.node == node)
            .map_or(0, |slot| {
                let access = slot.access.load(Relaxed);
                slot.access.store(access.saturating_sub(1), Relaxed);
                access
            })
    }
}
