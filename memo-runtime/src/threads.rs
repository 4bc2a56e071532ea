//! A small number of the process's own for each thread that uses a cache:
//! the index of its slot in the biased locks' table, and of its cell in
//! each cache's lookup counters.
//!
//! A thread is given an index on first use and gives it back when it
//! exits, so that threads which come and go (a blocking pool) reuse the
//! indices of those gone. An index belongs to one live thread at a time;
//! past [`THREADS`] live threads, the others get none and take the slow
//! paths (the inner lock, a shared counter).
//!
//! Reading the index is one access to a thread-local with no destructor,
//! which never fails, not even from another thread-local's destructor
//! during the thread's exit (the thread then has no index).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, TryLockError};

/// How many threads at once have an index of their own.
pub(crate) const THREADS: usize = 128;

/// In [`INDEX`] before the thread asks for an index.
const UNGIVEN: usize = usize::MAX;
/// In [`INDEX`] once the thread gets none: it is exiting, or it came when
/// every index was taken.
const NONE: usize = usize::MAX - 1;

/// The highest index ever given, plus one: where a writer stops scanning.
static GIVEN: AtomicUsize = AtomicUsize::new(0);

/// The indices given and given back.
static INDICES: Mutex<Indices> = Mutex::new(Indices::new());

thread_local! {
    /// This thread's index, or [`UNGIVEN`] or [`NONE`]. No destructor.
    static INDEX: Cell<usize> = const { Cell::new(UNGIVEN) };
    /// Gives the thread's index back when the thread exits.
    static GIVE_BACK: RefCell<Option<GiveBack>> = const { RefCell::new(None) };
}

/// This thread's index, given on first use; `None` past [`THREADS`] live
/// threads and during the thread's exit.
#[inline(always)]
pub(crate) fn own_index() -> Option<usize> {
    let index = INDEX.try_with(Cell::get).ok()?;
    if index < THREADS {
        return Some(index);
    }
    give_index(index)
}

/// How many indices a writer scans: every index given so far, read
/// sequentially consistent, so that a reader who raised it before claiming
/// its slot is seen (see `biased.rs`).
#[inline]
pub(crate) fn given() -> usize {
    GIVEN.load(Ordering::SeqCst)
}

/// Gives this thread an index, unless it has had its chance.
#[cold]
#[inline(never)]
fn give_index(index: usize) -> Option<usize> {
    if index == NONE {
        return None;
    }
    let Some(index) = claim() else {
        let _ = INDEX.try_with(|cell| cell.set(NONE));
        return None;
    };
    let kept = GIVE_BACK.try_with(|give_back| *give_back.borrow_mut() = Some(GiveBack(index)));
    if kept.is_err() {
        // Too late in the thread's exit to give it back then: now.
        give_back(index);
        let _ = INDEX.try_with(|cell| cell.set(NONE));
        return None;
    }
    // Before the index is used: a writer that scans after this sees it.
    GIVEN.fetch_max(index + 1, Ordering::SeqCst);
    INDEX.try_with(|cell| cell.set(index)).ok()?;
    Some(index)
}

/// An index from [`INDICES`], which other threads hold for a moment each.
/// It is not waited on for good: in the child of a `fork` made while
/// another thread held it, it stays locked, and the child's threads then
/// get no index.
fn claim() -> Option<usize> {
    for _ in 0..100 {
        match INDICES.try_lock() {
            Ok(mut indices) => return indices.claim(),
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner().claim(),
            Err(TryLockError::WouldBlock) => std::thread::yield_now(),
        }
    }
    None
}

fn give_back(index: usize) {
    INDICES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .give_back(index);
}

/// Which indices are given: the next never given, and those given back.
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

    /// An index no live thread has: one given back, else a new one; `None`
    /// when all [`THREADS`] are taken.
    fn claim(&mut self) -> Option<usize> {
        if let Some(index) = self.free.pop() {
            return Some(index);
        }
        if self.next == THREADS {
            return None;
        }
        self.next += 1;
        Some(self.next - 1)
    }

    /// Takes back an index that [`claim`](Self::claim) gave.
    fn give_back(&mut self, index: usize) {
        #[cfg(test)]
        tests::GIVEN_BACK
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(index);
        self.free.push(index);
    }
}

/// A thread's index, given back when the thread exits.
struct GiveBack(usize);

impl Drop for GiveBack {
    fn drop(&mut self) {
        // Uses later in this thread's exit take the slow paths.
        let _ = INDEX.try_with(|cell| cell.set(NONE));
        give_back(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every index given back, in order: what a test can check while other
    /// tests' threads take indices too.
    pub(super) static GIVEN_BACK: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    #[test]
    fn indices_are_given_once_each_until_all_are_taken() {
        let mut indices = Indices::new();
        let first: Vec<_> = (0..THREADS).map(|_| indices.claim()).collect();
        assert!(first.iter().enumerate().all(|(i, &c)| c == Some(i)));
        assert_eq!(indices.claim(), None, "every index is taken");
        indices.give_back(7);
        assert_eq!(
            indices.claim(),
            Some(7),
            "an index given back is given again"
        );
        assert_eq!(indices.claim(), None);
    }

    #[test]
    fn a_thread_keeps_its_index_and_gives_it_back_when_it_exits() {
        let index = std::thread::spawn(|| {
            let index = own_index().expect("an index");
            assert_eq!(own_index(), Some(index), "the same index each time");
            assert!(given() > index, "a writer scans it");
            index
        })
        .join()
        .unwrap();
        let given_back = GIVEN_BACK.lock().unwrap();
        assert!(
            given_back.contains(&index),
            "index {index} was not given back"
        );
    }
}
