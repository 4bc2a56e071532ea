//! One stored entry: key, deadlines, eviction bookkeeping and the value, in
//! a single allocation that the table reaches through a one-word pointer.
//!
//! The table holds entries of any value type. A `Box<dyn Any>` would do,
//! but it is a two-word pointer (data and vtable), and each of the table's
//! buckets, used or spare, would pay for the second word. Instead, every
//! entry starts with an [`Entry`] header that names its value's type: a
//! `'static` [`Kind`] with the type's id (a hit compares it) and how to free
//! an entry of that type. [`StoredEntry`] is the one-word pointer.
//!
//! Most entries live their TTL and nothing else: they keep one deadline,
//! `fresh_until`. Only entries that refresh ahead, are kept past their TTL
//! or have time-to-idle carry the other two ([`Extra`], 16 bytes), and only
//! those with time-to-idle its duration and last hit too ([`Idle`], 16
//! more): an entry is laid out as a `Boxed`, a `BoxedExtra` or a
//! `BoxedIdle`, its [`EXTRA`] and [`IDLE`] flags say which, and its `Kind`
//! says where the value is.
//!
//! A plain `u64 -> u64` entry is 56 bytes, which glibc's allocator serves
//! from its 64-byte class: the key's identity (16, inline up to 15 bytes),
//! its namespace (a pointer, and a 16-bit length in what was padding), the
//! deadline, the kind (8 each), the policy's node (4), the access counter
//! and the flags (1 each), and the value. A `CacheKey` as it is (four
//! words) would make it 64, which the allocator rounds up to 80.
//!
//! The store's and this module's unit tests run under Miri, which checks
//! this unsafe code: `cargo +nightly miri test -p memo-runtime --lib --
//! local::` (about four minutes).

use std::any::TypeId;
use std::mem::offset_of;
use std::num::NonZeroU64;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

use crate::freshness::{Age, Deadlines, Instant};
use crate::key::{CacheKey, KeyId, NamespaceLen, PackedNamespace, bytes_eq};
use crate::local::policy::NodeId;

/// What every entry has, whatever the type of its value, which follows it
/// in the same allocation (see [`Boxed`]).
pub(crate) struct Entry {
    /// The key's identity.
    id: KeyId,
    /// The key's namespace, with `namespace_len`: a `&'static str` in
    /// one word and two bytes of the padding (see [`PackedNamespace`]).
    namespace: PackedNamespace,
    /// Until when the value is served; the other deadlines, where they
    /// differ from this one, are in [`Extra`].
    fresh_until: Instant,
    /// The value's type, and where the value is.
    kind: &'static Kind,
    pub(crate) node: NodeId,
    namespace_len: NamespaceLen,
    /// Hits since stored, up to [`MAX_ACCESS`], for the eviction policy.
    pub(crate) access: AtomicU8,
    /// [`RETRYING`], [`IDLE`] and [`EXTRA`]: what a hit must do besides
    /// returning the value. Zero for most entries, so a hit tests one byte.
    pub(crate) flags: u8,
}

/// The deadlines of entries that refresh ahead, are kept past their TTL,
/// or idle out.
struct Extra {
    refresh_at: Instant,
    keep_until: Instant,
}

/// Time-to-idle, in the entries that have it.
pub(crate) struct Idle {
    /// The entry goes stale this many nanoseconds after its last hit.
    pub(crate) nanos: NonZeroU64,
    /// When the entry was last hit (or stored), in nanoseconds of its
    /// store's clock.
    pub(crate) last_hit: AtomicU64,
}

/// An entry as allocated: the header first (`repr(C)`), so that a pointer
/// to the allocation is a pointer to its header.
#[repr(C)]
struct Boxed<V> {
    header: Entry,
    value: V,
}

/// An entry with [`Extra`] deadlines between the header and the value.
#[repr(C)]
struct BoxedExtra<V> {
    header: Entry,
    extra: Extra,
    value: V,
}

/// An entry with time-to-idle: [`Extra`], then [`Idle`], between the header
/// and the value.
#[repr(C)]
struct BoxedIdle<V> {
    header: Entry,
    extra: Extra,
    idle: Idle,
    value: V,
}

/// Where `Extra` is in a `BoxedExtra` or a `BoxedIdle` of any value type:
/// after the header, which comes first and does not depend on the value's
/// type; and where `Idle` is in a `BoxedIdle`, after them.
const EXTRA_AT: usize = offset_of!(BoxedExtra<()>, extra);
const IDLE_AT: usize = offset_of!(BoxedIdle<()>, idle);
const _: () = assert!(offset_of!(BoxedIdle<()>, extra) == EXTRA_AT);

/// A value type in one of the two layouts, as entries name it: one
/// `'static` table per type and layout.
struct Kind {
    type_id: TypeId,
    /// Where the value is, from the start of the allocation.
    value_at: usize,
    /// Drops and frees an entry of this type and layout.
    free: unsafe fn(NonNull<Entry>),
}

/// Gives every storable type its [`Kind`]s, as constants that `&` promotes
/// to `'static`s.
trait Storable: Send + Sync + Sized + 'static {
    const KIND: Kind = Kind {
        type_id: TypeId::of::<Self>(),
        value_at: offset_of!(Boxed<Self>, value),
        free: free::<Boxed<Self>>,
    };
    const EXTRA_KIND: Kind = Kind {
        type_id: TypeId::of::<Self>(),
        value_at: offset_of!(BoxedExtra<Self>, value),
        free: free::<BoxedExtra<Self>>,
    };
    const IDLE_KIND: Kind = Kind {
        type_id: TypeId::of::<Self>(),
        value_at: offset_of!(BoxedIdle<Self>, value),
        free: free::<BoxedIdle<Self>>,
    };
}

impl<V: Send + Sync + 'static> Storable for V {}

/// # Safety
///
/// `entry` came from [`stored`], which boxed it as a `B` (the layout its
/// `Kind` names), and nothing uses it afterwards.
unsafe fn free<B>(entry: NonNull<Entry>) {
    // SAFETY: the caller's contract: this is the pointer `Box::leak` gave
    // `stored`, with the provenance of the whole allocation.
    drop(unsafe { Box::from_raw(entry.cast::<B>().as_ptr()) });
}

/// The table's pointer to an entry of any value type: one word, owning its
/// entry like a `Box`.
pub(crate) struct StoredEntry(NonNull<Entry>);

// SAFETY: a `StoredEntry` owns its entry as a `Box` would. The header,
// `Extra` and `Idle` are `Send + Sync`, and `stored` only accepts values
// that are too.
unsafe impl Send for StoredEntry {}
// SAFETY: as above.
unsafe impl Sync for StoredEntry {}

impl Deref for StoredEntry {
    type Target = Entry;

    #[inline(always)]
    fn deref(&self) -> &Entry {
        // SAFETY: the pointer is to a live allocation that this value owns,
        // whose first field (`repr(C)`) is the header.
        unsafe { self.0.as_ref() }
    }
}

// No `DerefMut`: a `&mut Entry` would let two headers be swapped, and with
// them the `kind`s that say how to read and free each value. The fields a
// store changes in place have their own accessors below.

// The `unsafe impl`s above rely on this.
const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Entry>();
    send_and_sync::<Extra>();
    send_and_sync::<Idle>();
};

impl Drop for StoredEntry {
    fn drop(&mut self) {
        // SAFETY: `kind` is the `Kind` of the type `stored` boxed this entry
        // with, and the entry is not used after its owner is dropped.
        unsafe { (self.kind.free)(self.0) }
    }
}

/// A value kept past its TTL, stored again after a failed reload: its hits
/// are counted as stale values served.
pub(crate) const RETRYING: u8 = 1;
/// Time-to-idle: a hit checks, and moves, `last_hit`. The entry is a
/// `BoxedIdle` (and flagged [`EXTRA`] too).
pub(crate) const IDLE: u8 = 2;
/// The entry is a `BoxedExtra` or a `BoxedIdle`: its deadlines are not all
/// `fresh_until`.
const EXTRA: u8 = 4;

/// Where an entry's access counter saturates (a 2-bit counter, as in S3-FIFO).
const MAX_ACCESS: u8 = 3;

/// Whether `deadlines` need more than `fresh_until`.
#[inline(always)]
fn needs_extra(deadlines: &Deadlines) -> bool {
    deadlines.idle.is_some()
        || deadlines.refresh_at != deadlines.fresh_until
        || deadlines.keep_until != deadlines.fresh_until
}

/// A new entry, boxed for the table.
#[inline]
pub(crate) fn stored<V: Send + Sync + 'static>(
    key: CacheKey,
    deadlines: Deadlines,
    node: NodeId,
    value: V,
    retrying: bool,
    now_nanos: u64,
) -> StoredEntry {
    let flags = if retrying { RETRYING } else { 0 };
    if needs_extra(&deadlines) {
        return stored_extra(key, deadlines, node, value, flags, now_nanos);
    }
    let header = header(key, deadlines, &V::KIND, node, flags);
    StoredEntry(NonNull::from(Box::leak(Box::new(Boxed { header, value }))).cast())
}

/// What a store leaves to drop once it has released its shard's lock: an
/// entry it replaced or evicted, or the contents of one whose allocation a
/// new entry took over. Dropping it there keeps a value's `Drop` from
/// running, or panicking, while the shard is half changed or locked.
pub(crate) struct Leftover<V>(Inner<V>);

/// Each held only to be dropped.
enum Inner<V> {
    Nothing,
    Entry { _held: StoredEntry },
    Contents { _held: Boxed<V> },
}

impl<V> Leftover<V> {
    pub(crate) fn nothing() -> Self {
        Leftover(Inner::Nothing)
    }

    pub(crate) fn entry(entry: StoredEntry) -> Self {
        Leftover(Inner::Entry { _held: entry })
    }
}

/// [`stored`], in the allocation of `evicted` (if a store evicted one to
/// make room) where it has the same layout (a plain entry of a value of the
/// same type): the victim's memory is reused instead of freed and allocated
/// anew. The victim (or its contents) is returned, for the caller to drop.
#[inline]
pub(crate) fn stored_over<V: Send + Sync + 'static>(
    evicted: Option<StoredEntry>,
    key: CacheKey,
    deadlines: Deadlines,
    node: NodeId,
    value: V,
    retrying: bool,
    now_nanos: u64,
) -> (StoredEntry, Leftover<V>) {
    let Some(evicted) = evicted else {
        let entry = stored(key, deadlines, node, value, retrying, now_nanos);
        return (entry, Leftover::nothing());
    };
    let same_layout = !needs_extra(&deadlines)
        && evicted.flags & EXTRA == 0
        && evicted.kind.type_id == TypeId::of::<V>();
    if !same_layout {
        let entry = stored(key, deadlines, node, value, retrying, now_nanos);
        return (entry, Leftover::entry(evicted));
    }
    let flags = if retrying { RETRYING } else { 0 };
    let header = header(key, deadlines, &V::KIND, node, flags);
    let boxed = evicted.0.cast::<Boxed<V>>();
    // The allocation now belongs to the entry made below.
    std::mem::forget(evicted);
    // SAFETY: an entry of `V` without the EXTRA flag was boxed by `stored`
    // as a `Boxed<V>`, so `boxed` points to a live, initialised one whose
    // only owner was `evicted`, forgotten above. Its contents are moved out
    // before the new ones are written in, and the allocation keeps its
    // layout.
    let old = unsafe {
        let old = boxed.as_ptr().read();
        boxed.as_ptr().write(Boxed { header, value });
        old
    };
    (
        StoredEntry(boxed.cast()),
        Leftover(Inner::Contents { _held: old }),
    )
}

/// [`stored`] of an entry with [`Extra`] deadlines (and [`Idle`], where it
/// has time-to-idle), in its own layout; out of the usual store's way.
#[cold]
#[inline(never)]
fn stored_extra<V: Send + Sync + 'static>(
    key: CacheKey,
    deadlines: Deadlines,
    node: NodeId,
    value: V,
    flags: u8,
    now_nanos: u64,
) -> StoredEntry {
    let extra = Extra {
        refresh_at: deadlines.refresh_at,
        keep_until: deadlines.keep_until,
    };
    let Some(nanos) = deadlines.idle else {
        let header = header(key, deadlines, &V::EXTRA_KIND, node, flags | EXTRA);
        let boxed = BoxedExtra {
            header,
            extra,
            value,
        };
        return StoredEntry(NonNull::from(Box::leak(Box::new(boxed))).cast());
    };
    let header = header(key, deadlines, &V::IDLE_KIND, node, flags | EXTRA | IDLE);
    let idle = Idle {
        nanos,
        last_hit: AtomicU64::new(now_nanos),
    };
    let boxed = BoxedIdle {
        header,
        extra,
        idle,
        value,
    };
    StoredEntry(NonNull::from(Box::leak(Box::new(boxed))).cast())
}

#[inline(always)]
fn header(
    key: CacheKey,
    deadlines: Deadlines,
    kind: &'static Kind,
    node: NodeId,
    flags: u8,
) -> Entry {
    let (namespace, id) = key.into_parts();
    let (namespace, namespace_len) = PackedNamespace::new(namespace);
    Entry {
        id,
        namespace,
        namespace_len,
        fresh_until: deadlines.fresh_until,
        kind,
        node,
        access: AtomicU8::new(0),
        flags,
    }
}

impl StoredEntry {
    /// The [`Extra`] deadlines, if the entry has them.
    #[inline(always)]
    fn extra(&self) -> Option<&Extra> {
        if self.flags & EXTRA == 0 {
            return None;
        }
        // SAFETY: an entry flagged EXTRA was boxed as a `BoxedExtra` or a
        // `BoxedIdle` (see `stored_extra`), whose `Extra` is at `EXTRA_AT`
        // from the allocation's start in both; the pointer has the whole
        // allocation's provenance, and the `Extra` lives as long as `self`.
        Some(unsafe { &*self.0.cast::<u8>().add(EXTRA_AT).cast::<Extra>().as_ptr() })
    }

    /// [`extra`](Self::extra), to change.
    fn extra_mut(&mut self) -> Option<&mut Extra> {
        if self.flags & EXTRA == 0 {
            return None;
        }
        // SAFETY: as in `extra`; `&mut self` makes the access unique, and
        // only the `Extra` block is handed out.
        Some(unsafe { &mut *self.0.cast::<u8>().add(EXTRA_AT).cast::<Extra>().as_ptr() })
    }

    /// After a failed background reload: not due again before `later` (nor
    /// after its TTL), if it was due at `now`. Only entries that refresh
    /// ahead are ever due.
    pub(crate) fn postpone_refresh(&mut self, now: Instant, later: Option<Instant>) {
        let fresh_until = self.fresh_until;
        if let Some(extra) = self.extra_mut()
            && extra.refresh_at <= now
        {
            extra.refresh_at = later.unwrap_or(fresh_until).min(fresh_until);
        }
    }

    /// Ends the entry's TTL at `now` (if it is not over): no longer served,
    /// but kept for what is left of its stale window, if it has one (an
    /// entry without one expires outright, whatever its layout). No longer
    /// a retried value either.
    pub(crate) fn expire_at(&mut self, now: Instant) {
        // SAFETY: as in `deref`; `&mut self` makes the access unique, and
        // only the header's own fields are written.
        let header = unsafe { &mut *self.0.as_ptr() };
        let was_fresh_until = header.fresh_until;
        header.fresh_until = was_fresh_until.min(now);
        header.flags &= !RETRYING;
        let fresh_until = header.fresh_until;
        if let Some(extra) = self.extra_mut() {
            extra.refresh_at = extra.refresh_at.min(fresh_until);
            if extra.keep_until == was_fresh_until {
                extra.keep_until = fresh_until;
            }
        }
    }

    /// Where in its life the entry is at `now`, time-to-idle aside. (The
    /// hit of a plain entry does not ask: it compares `fresh_until`.)
    #[inline(always)]
    pub(crate) fn age(&self, now: Instant) -> Age {
        self.deadlines_but_idle().age(now)
    }

    #[inline(always)]
    fn deadlines_but_idle(&self) -> Deadlines {
        let fresh_until = self.fresh_until;
        let (refresh_at, keep_until) = self.extra().map_or((fresh_until, fresh_until), |extra| {
            (extra.refresh_at, extra.keep_until)
        });
        Deadlines {
            refresh_at,
            fresh_until,
            keep_until,
            idle: None,
        }
    }

    /// The entry's deadlines.
    #[inline(always)]
    pub(crate) fn deadlines(&self) -> Deadlines {
        Deadlines {
            idle: self.idle().map(|idle| idle.nanos),
            ..self.deadlines_but_idle()
        }
    }

    /// The entry's time-to-idle and last hit, if it has time-to-idle.
    #[inline(always)]
    pub(crate) fn idle(&self) -> Option<&Idle> {
        if self.flags & IDLE == 0 {
            return None;
        }
        // SAFETY: an entry flagged IDLE was boxed as a `BoxedIdle` (see
        // `stored_extra`), whose `Idle` is at `IDLE_AT` from the
        // allocation's start; the pointer has the whole allocation's
        // provenance, and the `Idle` lives as long as `self`.
        Some(unsafe { &*self.0.cast::<u8>().add(IDLE_AT).cast::<Idle>().as_ptr() })
    }

    /// The value, if it is a `V`.
    #[inline(always)]
    pub(crate) fn value<V: 'static>(&self) -> Option<&V> {
        let kind = self.kind;
        if kind.type_id == TypeId::of::<V>() {
            // SAFETY: the entry was boxed with a value of the type whose id
            // is `kind.type_id`, checked equal to `V`'s just above, at
            // `kind.value_at`; the pointer has the whole allocation's
            // provenance (from `Box::leak`), and the value lives as long as
            // `self`.
            Some(unsafe { &*self.0.cast::<u8>().add(kind.value_at).cast::<V>().as_ptr() })
        } else {
            None
        }
    }
}

impl Entry {
    /// The namespace of the entry's key.
    #[inline(always)]
    pub(crate) fn namespace(&self) -> &'static str {
        self.namespace.get(self.namespace_len)
    }

    /// The identity of the entry's key.
    #[inline(always)]
    pub(crate) fn id(&self) -> &[u8] {
        &self.id
    }

    /// Whether the entry's key is `(namespace, id)`: the comparison a
    /// lookup makes without building a `CacheKey`.
    #[inline(always)]
    pub(crate) fn matches(&self, namespace: &str, id: &[u8]) -> bool {
        bytes_eq(&self.id, id) && self.namespace.is(self.namespace_len, namespace)
    }

    /// Until when the value is served. Without the EXTRA flag, this is
    /// the entry's only deadline: a hit before it, expired from it.
    #[inline(always)]
    pub(crate) fn fresh_until(&self) -> Instant {
        self.fresh_until
    }

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
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::freshness::{Clock, Freshness, ManualClock};

    fn entry_of<V: Send + Sync + 'static>(value: V) -> StoredEntry {
        let freshness = Freshness {
            ttl: std::time::Duration::from_secs(60),
            stale_for: std::time::Duration::ZERO,
            refresh: None,
            idle: None,
        };
        // A manual clock, so that Miri can run these (it cannot read the TSC).
        let deadlines = freshness.deadlines(Clock::from(ManualClock::new()).now());
        let key = CacheKey::from_parts("ns", b"k");
        stored(key, deadlines, 0, value, false, 0)
    }

    #[test]
    fn an_entry_is_one_word_and_gives_its_value_only_as_its_own_type() {
        assert_eq!(size_of::<StoredEntry>(), size_of::<usize>());
        let entry = entry_of(String::from("ada"));
        assert_eq!(entry.value::<String>().map(String::as_str), Some("ada"));
        assert_eq!(entry.value::<u64>(), None);
        assert_eq!((entry.namespace(), entry.id()), ("ns", &b"k"[..]));
    }

    #[test]
    fn an_entry_with_time_to_idle_keeps_it_and_its_value_in_its_own_layout() {
        let clock = Clock::from(ManualClock::new());
        // With a stale window and refresh-ahead too: every block in one.
        let freshness = Freshness {
            ttl: std::time::Duration::from_secs(60),
            stale_for: std::time::Duration::from_secs(30),
            refresh: Some(std::time::Duration::from_secs(50)),
            idle: Some(std::time::Duration::from_secs(5)),
        };
        let deadlines = freshness.deadlines(clock.now());
        let value = Arc::new(String::from("idle"));
        let key = CacheKey::from_parts("ns", b"k");
        let entry = stored(key, deadlines, 0, Arc::clone(&value), false, 42);
        assert_eq!(entry.deadlines(), deadlines);
        assert_eq!(
            entry.idle().map(|idle| idle.last_hit.load(Relaxed)),
            Some(42)
        );
        assert_eq!(
            entry.value::<Arc<String>>().map(|v| v.as_str()),
            Some("idle")
        );
        let plain = entry_of(7u64);
        assert!(plain.idle().is_none() && plain.deadlines().idle.is_none());
        assert_eq!(plain.value::<u64>(), Some(&7));
        drop(entry);
        assert_eq!(Arc::strong_count(&value), 1, "freed with its own layout");
    }

    #[test]
    fn a_plain_entry_keeps_one_deadline_and_the_others_carry_all_three() {
        // The header and a `u64`: what a `u64 -> u64` entry allocates.
        #[cfg(target_pointer_width = "64")]
        {
            assert_eq!(size_of::<Boxed<u64>>(), 56);
            assert_eq!(size_of::<BoxedExtra<u64>>(), 56 + size_of::<Extra>());
            assert_eq!(
                size_of::<BoxedIdle<u64>>(),
                56 + size_of::<Extra>() + size_of::<Idle>()
            );
        }
        let clock = ManualClock::new();
        let now = Clock::from(clock.clone()).now();
        let at = |secs| {
            now.checked_add(std::time::Duration::from_secs(secs))
                .unwrap()
        };
        let plain = entry_of(1u8);
        assert_eq!(plain.flags & EXTRA, 0);
        // Refreshing ahead, but with no stale window: expired outright, as
        // a plain entry is.
        let refreshing = Freshness {
            ttl: std::time::Duration::from_secs(60),
            stale_for: std::time::Duration::ZERO,
            refresh: Some(std::time::Duration::from_secs(50)),
            idle: None,
        };
        let key = CacheKey::from_parts("ns", b"r");
        let mut entry = stored(key, refreshing.deadlines(now), 0, 3u8, false, 0);
        assert_ne!(entry.flags & EXTRA, 0);
        entry.expire_at(at(20));
        assert_eq!(entry.age(at(20)), Age::Expired);
        let kept = Freshness {
            ttl: std::time::Duration::from_secs(60),
            stale_for: std::time::Duration::from_secs(30),
            refresh: Some(std::time::Duration::from_secs(50)),
            idle: None,
        };
        let deadlines = kept.deadlines(now);
        let mut entry = stored(CacheKey::from_parts("ns", b"k"), deadlines, 0, 2u8, true, 0);
        assert_ne!(entry.flags & EXTRA, 0);
        assert!(entry.idle().is_none());
        assert_eq!(entry.deadlines(), deadlines);
        assert_eq!(
            [
                entry.age(at(10)),
                entry.age(at(55)),
                entry.age(at(70)),
                entry.age(at(90))
            ],
            [Age::Fresh, Age::Due, Age::Stale, Age::Expired]
        );
        entry.postpone_refresh(at(55), Some(at(58)));
        assert_eq!(entry.deadlines().refresh_at, at(58));
        entry.postpone_refresh(at(55), Some(at(80)));
        assert_eq!(entry.deadlines().refresh_at, at(58), "not due: unchanged");
        entry.expire_at(at(20));
        let expired = entry.deadlines();
        assert_eq!((expired.refresh_at, expired.fresh_until), (at(20), at(20)));
        assert_eq!(expired.keep_until, at(90), "the stale window stays");
        assert_eq!(entry.flags & RETRYING, 0);

        let mut plain = plain;
        assert_eq!(plain.age(now), Age::Fresh);
        plain.expire_at(now);
        assert_eq!(plain.age(now), Age::Expired, "no stale window to keep it");
    }

    #[test]
    fn a_new_entry_takes_over_the_allocation_of_an_evicted_one_of_its_layout() {
        let old = Arc::new(String::from("old"));
        let evicted = entry_of(Arc::clone(&old));
        let address = evicted.0;
        let deadlines = evicted.deadlines();
        let new = Arc::new(String::from("new"));
        let key = CacheKey::from_parts("ns", b"n");
        let (entry, leftover) =
            stored_over(Some(evicted), key, deadlines, 3, Arc::clone(&new), true, 0);
        assert_eq!(entry.0, address, "the allocation was not reused");
        assert_eq!(
            Arc::strong_count(&old),
            2,
            "dropped before the caller let go"
        );
        drop(leftover);
        assert_eq!(
            Arc::strong_count(&old),
            1,
            "the evicted value was not dropped"
        );
        assert_eq!(
            entry.value::<Arc<String>>().map(|v| v.as_str()),
            Some("new")
        );
        assert_eq!(
            (entry.id(), entry.node, entry.flags),
            (&b"n"[..], 3, RETRYING)
        );
        assert_eq!(entry.access.load(Relaxed), 0);
        drop(entry);
        assert_eq!(Arc::strong_count(&new), 1);

        // Another type, or another layout: a new allocation.
        let seven = Arc::new(7u64);
        let (entry, leftover) = stored_over(
            Some(entry_of(Arc::clone(&seven))),
            CacheKey::from_parts("ns", b"s"),
            deadlines,
            1,
            8u32,
            false,
            0,
        );
        assert_eq!(entry.value::<u32>(), Some(&8));
        assert_eq!(Arc::strong_count(&seven), 2);
        drop(leftover);
        assert_eq!(
            Arc::strong_count(&seven),
            1,
            "the evicted entry was not freed"
        );
        let idle = Deadlines {
            idle: NonZeroU64::new(5),
            ..deadlines
        };
        let (entry, _) = stored_over(
            Some(entry),
            CacheKey::from_parts("ns", b"i"),
            idle,
            2,
            9u32,
            false,
            0,
        );
        assert_eq!(
            (entry.value::<u32>(), entry.idle().is_some()),
            (Some(&9), true)
        );
    }

    #[test]
    fn dropping_an_entry_drops_its_value_once() {
        let value = Arc::new(7u8);
        let entry = entry_of(Arc::clone(&value));
        assert_eq!(Arc::strong_count(&value), 2);
        drop(entry);
        assert_eq!(Arc::strong_count(&value), 1);
    }
}
