//! A reader-writer lock biased towards readers, after BRAVO (Dice and
//! Kogan, "BRAVO: Biased Locking for Reader-Writer Locks", USENIX ATC 2019).
//!
//! A shard's lock is read on every hit. An ordinary reader-writer lock
//! counts its readers in one word, so every hit does two locked
//! read-modify-writes on it (about 5 ns each on this project's VM), and
//! threads hitting one shard write the same cache line. Here, while the
//! lock is *biased*, a reader claims its thread's slot in a process-wide
//! table instead (one per thread index, [`threads`](crate::threads)), with
//! one compare-and-swap on a line no other thread writes, and leaves with
//! a release store (a plain `mov` on x86); the inner lock is not touched.
//! A thread without an index reads through the inner lock.
//!
//! A writer takes the inner lock, then *revokes* the bias: it clears the
//! flag and waits until no slot names this lock. Readers that come after
//! see the flag clear and take the inner lock. Revoking costs a scan of the
//! slots, so after one the bias stays off for [`INHIBIT`] times as long as
//! the revocation took (BRAVO's policy): a lock written often, like a
//! shard under miss churn, stays an ordinary lock, and one read almost
//! only, like a shard of hot keys, is read through the slots.
//!
//! # Why the slots exclude writers
//!
//! A reader stores its slot, then loads the flag; a writer stores the flag,
//! then loads the slots; all four are sequentially consistent. In their
//! single total order either the reader's load comes before the writer's
//! store (so the writer's scan comes after the reader's claim and waits for
//! it) or after it (so the reader sees the flag clear and backs out before
//! reading anything). The writer scans the slots of every index given so
//! far, a count it loads after its store, sequentially consistent too; a
//! thread raises that count (sequentially consistent) before its first
//! claim, so a claim the writer must see is below the count it loads. A
//! reader leaves with a release store that the writer's scan acquires, so
//! the reader's reads happen before the writer's writes; the flag is set
//! again only by a reader holding the inner lock, whose acquire follows
//! the last writer's release. A writer that finds the flag already clear
//! skips the scan: the flag was cleared by an earlier writer, whose scan
//! emptied the slots, and set again by nobody since, since that takes the
//! inner read lock, which this writer's lock excludes and follows.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
#[cfg(unix)]
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::freshness::precise;
#[cfg(unix)]
use crate::threads::held_index;
use crate::threads::{THREADS, given, own_index};

/// After a revocation that took `t`, the bias stays off for `INHIBIT * t`.
const INHIBIT: u64 = 9;

/// A reader on the inner lock tries to set the bias again on one read in
/// this many (per thread), since that reads the precise clock.
const RETRY_EVERY: u32 = 32;

/// One slot: the address of the lock its thread's reader is in, or null.
/// Alone on a pair of cache lines (adjacent-line prefetch fetches two).
#[repr(align(128))]
struct Slot(AtomicPtr<()>);

/// The table of slots every biased lock of the process shares, one for
/// each thread index ([`threads`](crate::threads)).
static TABLE: [Slot; THREADS] = [const { Slot(AtomicPtr::new(std::ptr::null_mut())) }; THREADS];

thread_local! {
    /// This thread's reads on inner locks, for [`RETRY_EVERY`].
    static SLOW_READS: Cell<u32> = const { Cell::new(0) };
}

/// Registers [`in_forked_child`] once, before any slot is claimed.
#[cfg(unix)]
static AT_FORK: Once = Once::new();

/// In the child of a `fork`, which copies only the thread that forked: a
/// slot that another thread of the parent held would keep every writer of
/// its lock waiting. The forking thread's own slot stays as it was.
#[cfg(unix)]
extern "C" fn in_forked_child() {
    let own = held_index();
    for (index, slot) in TABLE.iter().enumerate() {
        if Some(index) != own {
            slot.0.store(std::ptr::null_mut(), Ordering::Relaxed);
        }
    }
}

/// This thread's slot, if it has an index.
#[inline(always)]
fn own_slot() -> Option<&'static Slot> {
    own_index().map(|index| &TABLE[index])
}

/// Whether this thread's read on an inner lock is one that may set the
/// bias again.
fn retry_due() -> bool {
    SLOW_READS
        .try_with(|reads| {
            let n = reads.get();
            reads.set(n.wrapping_add(1));
            n % RETRY_EVERY == 0
        })
        .unwrap_or(false)
}

/// A reader-writer lock whose readers bypass the inner lock while it is
/// biased; see the [module](self).
pub(crate) struct BiasedRwLock<T> {
    inner: RwLock<T>,
    /// Readers may read through their slots.
    biased: AtomicBool,
    /// Until when (precise nanoseconds) the bias stays off after the last
    /// revocation. Written under the write lock, read under a read lock.
    inhibit_until: AtomicU64,
}

/// A read lock: a claimed slot or a guard of the inner lock.
pub(crate) struct BiasedReadGuard<'a, T> {
    lock: &'a BiasedRwLock<T>,
    held: Held<'a, T>,
    /// Not `Send`, whatever parking_lot's features: a slot is its thread's,
    /// and a guard held across an `.await` would keep writers waiting.
    _not_send: PhantomData<*const ()>,
}

/// What a read holds: the slot it claimed, or the inner lock's read lock.
enum Held<'a, T> {
    Slot(&'static Slot),
    /// Held only to be dropped with the guard.
    Inner {
        _guard: RwLockReadGuard<'a, T>,
    },
}

impl<T> BiasedRwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(unix)]
        AT_FORK.call_once(|| {
            // SAFETY: the handler only stores to atomics, which a child of
            // a multi-threaded `fork` may do. If registering fails, a
            // forked child may wait on a slot of a thread it lacks, as it
            // would on the reader count of any lock.
            let _ = unsafe { libc::pthread_atfork(None, None, Some(in_forked_child)) };
        });
        BiasedRwLock {
            inner: RwLock::new(value),
            biased: AtomicBool::new(true),
            inhibit_until: AtomicU64::new(0),
        }
    }

    /// What a slot holds while a reader of this lock is in it.
    fn address(&self) -> *mut () {
        (self as *const Self).cast_mut().cast()
    }

    /// Locks for reading; through this thread's slot while the lock is
    /// biased and the slot free.
    #[inline(always)]
    pub(crate) fn read(&self) -> BiasedReadGuard<'_, T> {
        if self.biased.load(Ordering::Relaxed)
            && let Some(slot) = own_slot()
            && slot
                .0
                .compare_exchange(
                    std::ptr::null_mut(),
                    self.address(),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            if self.biased.load(Ordering::SeqCst) {
                return BiasedReadGuard {
                    lock: self,
                    held: Held::Slot(slot),
                    _not_send: PhantomData,
                };
            }
            // A writer revoked the bias in between: it may be waiting for
            // this slot.
            slot.0.store(std::ptr::null_mut(), Ordering::Release);
        }
        self.read_inner()
    }

    /// A read on the inner lock, which sets the bias again once the
    /// inhibition after the last revocation is over.
    #[inline(never)]
    fn read_inner(&self) -> BiasedReadGuard<'_, T> {
        let inner = self.inner.read();
        if !self.biased.load(Ordering::Relaxed)
            && retry_due()
            && precise() >= self.inhibit_until.load(Ordering::Relaxed)
        {
            // Holding a read lock: no writer is inside, and the next one
            // revokes again.
            self.biased.store(true, Ordering::Release);
        }
        BiasedReadGuard {
            lock: self,
            held: Held::Inner { _guard: inner },
            _not_send: PhantomData,
        }
    }

    /// Locks for writing: the inner lock, and no reader in a slot.
    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        let guard = self.inner.write();
        if self.biased.load(Ordering::Relaxed) {
            self.revoke();
        }
        guard
    }

    /// Clears the bias and waits for the readers in slots to leave; the
    /// bias then stays off for [`INHIBIT`] times as long as that took.
    #[cold]
    #[inline(never)]
    fn revoke(&self) {
        self.biased.store(false, Ordering::SeqCst);
        let start = precise();
        let address = self.address();
        for slot in &TABLE[..given()] {
            let mut waits = 0u32;
            while slot.0.load(Ordering::SeqCst) == address {
                back_off(waits);
                waits = waits.saturating_add(1);
            }
        }
        let end = precise();
        let inhibit = end.saturating_sub(start).saturating_mul(INHIBIT);
        self.inhibit_until
            .store(end.saturating_add(inhibit), Ordering::Relaxed);
    }

    /// Sets when the bias may come back, for tests.
    #[cfg(test)]
    fn inhibit_until(&self, nanos: u64) {
        self.inhibit_until.store(nanos, Ordering::Relaxed);
    }

    /// Whether a writer holds the lock.
    #[cfg(test)]
    pub(crate) fn is_write_locked(&self) -> bool {
        self.inner.is_locked_exclusive()
    }

    /// Whether readers read through their slots now.
    #[cfg(test)]
    fn is_biased(&self) -> bool {
        self.biased.load(Ordering::Relaxed)
    }
}

/// A writer's wait for a reader to leave its slot, the `waits`-th time:
/// spins, then yields, then sleeps (so that a reader that never leaves, a
/// `Clone` calling back into its own shard, costs a thread, not a core).
fn back_off(waits: u32) {
    if waits < 64 {
        std::hint::spin_loop();
    } else if waits < 1_000 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(100));
    }
}

impl<T> Deref for BiasedReadGuard<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: this guard holds a read lock: either the inner lock's
        // (`Held::Inner`), or a claimed slot, which keeps every writer out
        // (see the module's proof), so nothing writes the value while the
        // guard lives.
        unsafe { &*self.lock.inner.data_ptr() }
    }
}

impl<T> BiasedReadGuard<'_, T> {
    /// Whether this read went through a slot.
    #[cfg(test)]
    fn in_slot(&self) -> bool {
        matches!(self.held, Held::Slot(_))
    }
}

impl<T> Drop for BiasedReadGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Held::Slot(slot) = self.held {
            slot.0.store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_read_goes_through_a_slot_until_a_write_revokes_the_bias() {
        let lock = BiasedRwLock::new(1u64);
        {
            let guard = lock.read();
            assert!(guard.in_slot(), "the first read is biased");
            assert_eq!(*guard, 1);
        }
        *lock.write() = 2;
        assert!(!lock.is_biased(), "a write revokes the bias");
        let guard = lock.read();
        assert!(!guard.in_slot(), "a read after a write takes the lock");
        assert_eq!(*guard, 2);
    }

    #[test]
    fn the_bias_stays_off_until_the_inhibition_is_over() {
        let lock = BiasedRwLock::new(0u64);
        *lock.write() = 1;
        lock.inhibit_until(u64::MAX);
        for _ in 0..10 * RETRY_EVERY {
            assert!(!lock.read().in_slot(), "a read went around the inhibition");
        }
        assert!(!lock.is_biased());
        lock.inhibit_until(0);
        for _ in 0..RETRY_EVERY {
            drop(lock.read());
        }
        assert!(lock.is_biased(), "the bias did not come back");
        assert!(lock.read().in_slot());
    }

    #[test]
    fn a_second_read_on_one_thread_takes_the_inner_lock() {
        let lock = BiasedRwLock::new(5u64);
        let outer = lock.read();
        let inner = lock.read();
        assert!(outer.in_slot());
        assert!(!inner.in_slot(), "the thread's slot is taken");
        assert_eq!(*outer + *inner, 10);
    }

    #[test]
    fn a_write_waits_for_the_reader_in_a_slot() {
        let lock = BiasedRwLock::new(0u64);
        let held = Barrier::new(2);
        let left = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let guard = lock.read();
                assert!(guard.in_slot(), "a fresh lock is biased");
                held.wait();
                // Time for the writer to go in, were it not waiting.
                for _ in 0..1_000 {
                    std::thread::yield_now();
                }
                left.store(true, Ordering::SeqCst);
                drop(guard);
            });
            held.wait();
            *lock.write() = 1;
            assert!(
                left.load(Ordering::SeqCst),
                "the writer went in while a reader was in its slot"
            );
        });
    }

    /// Readers never see a write half done, whether they read through
    /// slots or the inner lock, while the bias flips under them.
    #[test]
    fn readers_never_see_a_write_half_done() {
        let writes: u64 = if cfg!(miri) { 20 } else { 5_000 };
        let lock = BiasedRwLock::new((0u64, 0u64));
        let start = Barrier::new(3);
        let done = AtomicBool::new(false);
        let fast_reads = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    start.wait();
                    while !done.load(Ordering::Relaxed) {
                        let guard = lock.read();
                        let (a, b) = *guard;
                        assert_eq!(a, b, "a read saw a write half done");
                        // Through a slot after a write: after the bias came
                        // back from a revocation.
                        if guard.in_slot() && a > 0 {
                            fast_reads.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            start.wait();
            for n in 1..=writes {
                let mut guard = lock.write();
                guard.0 = n;
                // Long enough between the halves for a reader to look.
                for _ in 0..50 {
                    std::hint::spin_loop();
                }
                std::hint::black_box(&mut *guard).1 = n;
                drop(guard);
                // Reads between writes, so that the bias comes back.
                for _ in 0..(n % 8) * 512 {
                    drop(lock.read());
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        assert_eq!(*lock.read(), (writes, writes));
        assert!(
            fast_reads.load(Ordering::Relaxed) > 0,
            "no read after a write went through a slot: the test tested only the inner lock"
        );
    }
}
