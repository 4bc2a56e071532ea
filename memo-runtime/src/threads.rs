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
//! Indices are taken and given back with atomics alone, no lock, so that a
//! forked child (which has only the thread that forked) cannot find one
//! held: its handler takes back every index but that thread's. Reading the
//! index is one access to a thread-local with no destructor, which never
//! fails, not even from another thread-local's destructor during the
//! thread's exit (the thread then has no index).

use std::cell::{Cell, RefCell};
#[cfg(unix)]
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many threads at once have an index of their own.
pub(crate) const THREADS: usize = 128;

/// In [`INDEX`] before the thread asks for an index.
const UNGIVEN: usize = usize::MAX;
/// In [`INDEX`] once the thread gets none: it is exiting, or it came when
/// every index was taken.
const NONE: usize = usize::MAX - 1;

/// The highest index ever given, plus one: where a writer stops scanning.
static GIVEN: AtomicUsize = AtomicUsize::new(0);

/// Which indices a live thread holds.
static TAKEN: [AtomicBool; THREADS] = [const { AtomicBool::new(false) }; THREADS];

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

/// This thread's index if it has one, without giving one: for a `fork`
/// handler, which may only read.
#[cfg(unix)]
pub(crate) fn held_index() -> Option<usize> {
    INDEX
        .try_with(Cell::get)
        .ok()
        .filter(|&index| index < THREADS)
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
    #[cfg(unix)]
    AT_FORK.call_once(|| {
        // SAFETY: the handler only reads a thread-local without a
        // destructor and stores to atomics, which a child of a
        // multi-threaded `fork` may do. If registering fails, a forked
        // child keeps fewer indices to give.
        let _ = unsafe { libc::pthread_atfork(None, None, Some(in_forked_child)) };
    });
    let Some(index) = claim(&TAKEN) else {
        let _ = INDEX.try_with(|cell| cell.set(NONE));
        return None;
    };
    let kept = GIVE_BACK.try_with(|give_back| *give_back.borrow_mut() = Some(GiveBack(index)));
    if kept.is_err() {
        // Too late in the thread's exit to give it back then: now.
        give_back(&TAKEN, index);
        let _ = INDEX.try_with(|cell| cell.set(NONE));
        return None;
    }
    // Before the index is used: a writer that scans after this sees it.
    GIVEN.fetch_max(index + 1, Ordering::SeqCst);
    INDEX.try_with(|cell| cell.set(index)).ok()?;
    Some(index)
}

/// Takes the lowest index of `taken` that no thread holds; `None` if every
/// one is held.
fn claim(taken: &[AtomicBool]) -> Option<usize> {
    taken.iter().position(|flag| {
        !flag.load(Ordering::Relaxed)
            && flag
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    })
}

/// Gives `index` back: the next thread to claim it takes over what the
/// last holder wrote in its cells (release, and the claim's acquire).
fn give_back(taken: &[AtomicBool], index: usize) {
    #[cfg(test)]
    tests::GIVEN_BACK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(index);
    taken[index].store(false, Ordering::Release);
}

/// Registers [`in_forked_child`] once, before any index is given.
#[cfg(unix)]
static AT_FORK: Once = Once::new();

/// In the child of a `fork`: only the thread that forked lives on, so
/// every other index is free again.
#[cfg(unix)]
extern "C" fn in_forked_child() {
    let own = held_index();
    for (index, flag) in TAKEN.iter().enumerate() {
        if Some(index) != own {
            flag.store(false, Ordering::Relaxed);
        }
    }
}

/// Gives this thread's index back now, as its exit would: for tests of
/// what a thread-local destructor run after that one sees.
#[cfg(test)]
pub(crate) fn give_back_early() {
    drop(GIVE_BACK.with(|give_back| give_back.borrow_mut().take()));
}

/// A thread's index, given back when the thread exits.
struct GiveBack(usize);

impl Drop for GiveBack {
    fn drop(&mut self) {
        // Uses later in this thread's exit take the slow paths.
        let _ = INDEX.try_with(|cell| cell.set(NONE));
        give_back(&TAKEN, self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Barrier, Mutex};

    /// Every index given back, in order: what a test can check while other
    /// tests' threads take indices too.
    pub(super) static GIVEN_BACK: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    #[test]
    fn indices_are_given_once_each_until_all_are_taken() {
        let taken: Vec<AtomicBool> = (0..THREADS).map(|_| AtomicBool::new(false)).collect();
        let first: Vec<_> = (0..THREADS).map(|_| claim(&taken)).collect();
        assert!(first.iter().enumerate().all(|(i, &c)| c == Some(i)));
        assert_eq!(claim(&taken), None, "every index is taken");
        give_back(&taken, 7);
        assert_eq!(claim(&taken), Some(7), "an index given back is given again");
        assert_eq!(claim(&taken), None);
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

    #[test]
    fn live_threads_never_share_an_index_and_the_rest_get_none() {
        const LIVE: usize = THREADS + 40;
        let all_asked = Barrier::new(LIVE);
        let indices: Vec<Option<usize>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..LIVE)
                .map(|_| {
                    scope.spawn(|| {
                        let index = own_index();
                        // Alive until every thread has asked.
                        all_asked.wait();
                        index
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut given: Vec<usize> = indices.iter().flatten().copied().collect();
        given.sort_unstable();
        let distinct = given.len();
        given.dedup();
        assert_eq!(given.len(), distinct, "two live threads shared an index");
        assert!(distinct <= THREADS);
        // Other tests' threads may hold a few indices meanwhile.
        assert!(indices.iter().filter(|i| i.is_none()).count() >= LIVE - THREADS);
    }

    #[test]
    fn after_giving_its_index_back_an_exiting_thread_has_none() {
        let (index, after) = std::thread::spawn(|| {
            let index = own_index().expect("an index");
            give_back_early();
            (index, own_index())
        })
        .join()
        .unwrap();
        assert_eq!(after, None, "index {index} was given back, then used");
        assert!(GIVEN_BACK.lock().unwrap().contains(&index));
    }
}
