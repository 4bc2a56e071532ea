//! A reader-writer lock biased towards readers, after BRAVO (Dice and
//! Kogan, "BRAVO: Biased Locking for Reader-Writer Locks", USENIX ATC 2019).
//!
//! A shard's lock is read on every hit. An ordinary reader-writer lock
//! counts its readers in one word, so every hit does two locked
//! read-modify-writes on it (about 5 ns each on this project's VM), and
//! threads hitting one shard write the same cache line. Here, while the
//! lock is *biased*, a reader claims a slot of its own in a process-wide
//! table instead, with one compare-and-swap on a line no other thread
//! writes, and leaves with a plain store; the inner lock is not touched.
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
//! reading anything). A reader leaves with a release store that the
//! writer's scan acquires, so the reader's reads happen before the
//! writer's writes; the flag is set again only by a reader holding the
//! inner lock, whose acquire follows the last writer's release.

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::freshness::precise;

/// Slots in the table. A thread is given one of its own when it first
/// reads, and gives it back when it exits; threads beyond this many at once
/// share slots, which costs them the fast path while another thread holds
/// the shared one, never correctness (a slot is owned by the reader whose
/// compare-and-swap claimed it, whatever thread it was given to).
const SLOTS: usize = 128;

/// After a revocation that took `t`, the bias stays off for `INHIBIT * t`.
const INHIBIT: u64 = 9;

/// A reader on the inner lock tries to set the bias again on one read in
/// this many (per thread), since that reads the precise clock.
const RETRY_EVERY: u32 = 32;

/// One slot: the address of the lock its reader is in, or null. Alone on a
/// pair of cache lines (adjacent-line prefetch fetches two).
#[repr(align(128))]
struct Slot(AtomicPtr<()>);

/// The table of slots every biased lock of the process shares.
static TABLE: [Slot; SLOTS] = [const { Slot(AtomicPtr::new(std::ptr::null_mut())) }; SLOTS];

/// How many slots have ever been given (at most [`SLOTS`]): the writer
/// scans these.
static GIVEN: AtomicUsize = AtomicUsize::new(0);

/// The slots given to threads, and those given back.
static INDICES: Mutex<Indices> = Mutex::new(Indices::new());

/// In [`THREAD`] before the thread is given a slot.
const UNGIVEN: usize = usize::MAX;
/// In [`THREAD`] once the thread has none and gets none: it is exiting.
const GONE: usize = usize::MAX - 1;

thread_local! {
    /// This thread's slot index ([`UNGIVEN`], or [`GONE`]), and its count
    /// of reads on inner locks (for [`RETRY_EVERY`]). No destructor, so
    /// reading it is one access to thread-local storage.
    static THREAD: Cell<(usize, u32)> = const { Cell::new((UNGIVEN, 0)) };
    /// Gives the thread's slot back when the thread exits.
    static GIVE_BACK: RefCell<Option<GiveBack>> = const { RefCell::new(None) };
}

/// Which slots are given: the next never given, and those given back.
struct Indices {
    next: usize,
    free: Vec<usize>,
}

impl Indices {
    const fn new() -> Indices {
        Indices {
            next: 0,
            free: Vec::new(),
        }
    }

    /// A slot for a thread, and whether it is the thread's alone (to give
    /// back): one given back, else a new one, else, with every slot
    /// given, one shared in turn.
    fn claim(&mut self) -> (usize, bool) {
        if let Some(index) = self.free.pop() {
            return (index, true);
        }
        let index = self.next;
        self.next += 1;
        (index % SLOTS, index < SLOTS)
    }

    /// Takes back a slot that [`claim`](Self::claim) gave alone.
    fn give_back(&mut self, index: usize) {
        #[cfg(test)]
        tests::GIVEN_BACK
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(index);
        self.free.push(index);
    }
}

/// A thread's own slot, given back when the thread exits.
struct GiveBack(usize);

impl Drop for GiveBack {
    fn drop(&mut self) {
        // Reads later in this thread's exit take the inner locks.
        let _ = THREAD.try_with(|thread| thread.set((GONE, 0)));
        let mut indices = INDICES.lock().unwrap_or_else(PoisonError::into_inner);
        indices.give_back(self.0);
    }
}

/// This thread's slot, given on first use; `None` while it exits.
#[inline(always)]
fn own_slot() -> Option<&'static Slot> {
    let index = THREAD.try_with(|thread| thread.get().0).ok()?;
    if let Some(slot) = TABLE.get(index) {
        return Some(slot);
    }
    give_slot(index)
}

/// Gives this thread a slot, unless it has had one and is exiting.
#[cold]
#[inline(never)]
fn give_slot(index: usize) -> Option<&'static Slot> {
    if index == GONE {
        return None;
    }
    let (index, alone) = INDICES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .claim();
    GIVEN.fetch_max(index + 1, Ordering::Relaxed);
    if alone {
        let kept = GIVE_BACK.try_with(|give_back| *give_back.borrow_mut() = Some(GiveBack(index)));
        if kept.is_err() {
            // Too late in the thread's exit to give it back: give it now.
            INDICES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .give_back(index);
            return None;
        }
    }
    THREAD
        .try_with(|thread| thread.set((index, thread.get().1)))
        .ok()?;
    Some(&TABLE[index])
}

/// Whether this thread's read on an inner lock is one that may set the
/// bias again.
fn retry_due() -> bool {
    THREAD
        .try_with(|thread| {
            let (index, reads) = thread.get();
            thread.set((index, reads.wrapping_add(1)));
            reads % RETRY_EVERY == 0
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

/// A read lock: either a claimed slot or a guard of the inner lock.
pub(crate) struct BiasedReadGuard<'a, T> {
    lock: &'a BiasedRwLock<T>,
    /// The slot this reader claimed, if it read through one; `None` holds
    /// `_inner`'s read lock instead.
    slot: Option<&'static Slot>,
    _inner: Option<RwLockReadGuard<'a, T>>,
}

impl<T> BiasedRwLock<T> {
    pub(crate) fn new(value: T) -> Self {
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
                    slot: Some(slot),
                    _inner: None,
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
            slot: None,
            _inner: Some(inner),
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
        let given = GIVEN.load(Ordering::Relaxed);
        for slot in &TABLE[..given] {
            let mut spins = 0u32;
            while slot.0.load(Ordering::SeqCst) == address {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        let end = precise();
        let inhibit = end.saturating_sub(start).saturating_mul(INHIBIT);
        self.inhibit_until
            .store(end.saturating_add(inhibit), Ordering::Relaxed);
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

impl<T> Deref for BiasedReadGuard<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: this guard holds a read lock: either the inner lock's
        // (in `_inner`), or a claimed slot, which keeps every writer out
        // (see the module's proof), so nothing writes the value while the
        // guard lives.
        unsafe { &*self.lock.inner.data_ptr() }
    }
}

impl<T> Drop for BiasedReadGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            slot.0.store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::Barrier;

    /// Every slot given back, in order: what a test can check while other
    /// tests' threads take slots too.
    pub(in crate::local) static GIVEN_BACK: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    #[test]
    fn a_read_goes_through_a_slot_until_a_write_revokes_the_bias() {
        let lock = BiasedRwLock::new(1u64);
        {
            let guard = lock.read();
            assert!(guard.slot.is_some(), "the first read is biased");
            assert_eq!(*guard, 1);
        }
        *lock.write() = 2;
        assert!(!lock.is_biased(), "a write revokes the bias");
        let guard = lock.read();
        assert!(guard.slot.is_none(), "a read after a write takes the lock");
        assert_eq!(*guard, 2);
    }

    // Reads until the precise clock passes a deadline: too many for Miri.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_bias_comes_back_once_reads_outlast_the_inhibition() {
        let lock = BiasedRwLock::new(0u64);
        *lock.write() = 1;
        let before = precise();
        let mut reads = 0u64;
        while !lock.is_biased() {
            reads += 1;
            assert!(
                reads < 100_000_000,
                "the bias never came back ({} ns after the write)",
                precise() - before
            );
            drop(lock.read());
        }
        assert!(lock.read().slot.is_some());
    }

    #[test]
    fn slots_are_given_alone_until_all_are_given_then_shared() {
        let mut indices = Indices::new();
        let first: Vec<_> = (0..SLOTS).map(|_| indices.claim()).collect();
        assert!(first.iter().enumerate().all(|(i, &c)| c == (i, true)));
        assert_eq!(indices.claim(), (0, false), "all given: shared in turn");
        assert_eq!(indices.claim(), (1, false));
        indices.give_back(7);
        assert_eq!(indices.claim(), (7, true), "a slot given back is alone");
        assert_eq!(indices.claim(), (2, false));
    }

    #[test]
    fn a_thread_that_exits_gives_its_slot_back() {
        let first = std::thread::spawn(|| {
            drop(BiasedRwLock::new(()).read());
            THREAD.with(|thread| thread.get().0)
        })
        .join()
        .unwrap();
        assert!(first < SLOTS);
        // The list of every slot given back, since other tests' threads may
        // have taken this one again by now.
        let given_back = GIVEN_BACK.lock().unwrap();
        assert!(
            given_back.contains(&first),
            "slot {first} was not given back"
        );
    }

    #[test]
    fn a_second_read_on_one_thread_takes_the_inner_lock() {
        let lock = BiasedRwLock::new(5u64);
        let outer = lock.read();
        let inner = lock.read();
        assert!(outer.slot.is_some());
        assert!(inner.slot.is_none(), "the thread's slot is taken");
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
                assert!(guard.slot.is_some(), "a fresh lock is biased");
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
                        if guard.slot.is_some() {
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
            "no read went through a slot: the test tested only the inner lock"
        );
    }
}
