//! One stored entry: key, deadlines, eviction bookkeeping and the value, in
//! a single allocation.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

use crate::freshness::Deadlines;
use crate::key::CacheKey;
use crate::local::policy::NodeId;

/// The table holds only a pointer per bucket, so its spare buckets cost 8
/// bytes each, not the size of an entry.
pub(crate) struct Entry<V: ?Sized> {
    pub(crate) key: CacheKey,
    pub(crate) deadlines: Deadlines,
    pub(crate) node: NodeId,
    /// Hits since stored, up to [`MAX_ACCESS`], for the eviction policy.
    pub(crate) access: AtomicU8,
    /// [`RETRYING`] and [`IDLE`]: what a hit must do besides returning the
    /// value. Zero for most entries, so a hit tests one byte.
    pub(crate) flags: u8,
    /// With time-to-idle (`deadlines.idle`): when the entry was last hit
    /// (or stored), in nanoseconds of its store's clock. Unused otherwise.
    pub(crate) last_hit: AtomicU64,
    /// `value`'s type, kept beside it so a hit compares it without a call
    /// through the `Any` vtable.
    type_id: TypeId,
    value: V,
}

/// An entry of any value type, as the table stores it; lookups downcast to
/// the type they ask for.
pub(crate) type StoredEntry = Box<Entry<dyn Any + Send + Sync>>;

/// A value kept past its TTL, stored again after a failed reload: its hits
/// are counted as stale values served.
pub(crate) const RETRYING: u8 = 1;
/// Time-to-idle: a hit checks, and moves, `last_hit`.
pub(crate) const IDLE: u8 = 2;

/// Where an entry's access counter saturates (a 2-bit counter, as in S3-FIFO).
const MAX_ACCESS: u8 = 3;

/// A new entry, boxed for the table.
pub(crate) fn stored<V: Send + Sync + 'static>(
    key: CacheKey,
    deadlines: Deadlines,
    node: NodeId,
    value: V,
    retrying: bool,
    now_nanos: u64,
) -> StoredEntry {
    Box::new(Entry {
        key,
        deadlines,
        node,
        access: AtomicU8::new(0),
        flags: if retrying { RETRYING } else { 0 }
            | if deadlines.idle.is_some() { IDLE } else { 0 },
        last_hit: AtomicU64::new(now_nanos),
        type_id: TypeId::of::<V>(),
        value,
    })
}

impl Entry<dyn Any + Send + Sync> {
    /// Counts a hit for the eviction policy. A load and, until the counter
    /// saturates, a store: no read-modify-write, and no write at all to the
    /// entries that are hit most. Concurrent hits may count once; it is a
    /// heuristic.
    #[inline(always)]
    pub(crate) fn touch(&self) {
        let access = self.access.load(Relaxed);
        if access < MAX_ACCESS {
            self.access.store(access + 1, Relaxed);
        }
    }

    /// Takes one access away for the eviction policy; returns what it was.
    pub(crate) fn take_access(&self) -> u8 {
        let access = self.access.load(Relaxed);
        self.access.store(access.saturating_sub(1), Relaxed);
        access
    }

    /// The value, if it is a `V`.
    #[inline(always)]
    pub(crate) fn value<V: 'static>(&self) -> Option<&V> {
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
