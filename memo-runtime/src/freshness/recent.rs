//! The system time as a hit reads it: one load of a word that a background
//! thread (`memo-clock`) rewrites every [`TICK`], instead of a read of the
//! time-stamp counter on every hit (9.4 ns with `quanta` on this project's
//! VM, a third of a hit; see BENCHMARKS.md).
//!
//! The price is precision: the time a cache sees lags the real one by up to
//! a tick (1 ms) while the thread gets a core when it wakes, which an
//! ordinary scheduler gives a thread that slept. So an entry can be served
//! up to about a millisecond past its TTL, and is stored with deadlines
//! taken from the same lagging time. Redis expires keys on a millisecond
//! clock too; a TTL shorter than a few milliseconds is not what a memoizing
//! cache is for. The lag has no bound of its own beyond that: where the
//! thread cannot run for a while (every core held by real-time or
//! busy-polling threads of higher priority), time stands still for the
//! caches for as long, and entries live that much longer. A child made by
//! `clone` without `fork` (which runs no `atfork` handler) keeps the
//! parent's last time for good; such a process should read no cache.
//!
//! The thread costs nothing while nobody reads the time: after
//! [`IDLE_TICKS`] ticks with no read it parks, and marks the word asleep.
//! The next read sees the mark, reads the precise clock itself, and wakes
//! the thread. To know whether anyone read, the first read after each tick
//! sets a flag in the word: one write per tick, not one per hit.
//!
//! Where the thread cannot run (it could not be spawned, or this is the
//! child of a `fork`, which copies no threads), every read is a precise one.
//! The time never goes back for any one reader: the thread publishes the
//! greater of its reading and the word's, and so does a read that wakes it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

/// How often the thread rewrites the time: the most a read lags by.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Ticks without a read before the thread parks (100 ms).
const IDLE_TICKS: u32 = 100;

/// Set by the first read after a tick: someone reads the time.
const SEEN: u64 = 1;
/// Set while the thread is parked (or never started): the time in the
/// word is old, read the precise clock.
const ASLEEP: u64 = 2;
/// The flags sit below the time, in nanoseconds.
const SHIFT: u32 = 2;

/// The time every cache of the process reads, unless it reads a manual
/// clock.
static SYSTEM: Recent = Recent::new();

/// The precise clock, calibrated once per process, and the time it counts
/// from.
static PRECISE: LazyLock<(quanta::Clock, quanta::Instant)> = LazyLock::new(|| {
    let clock = quanta::Clock::new();
    let origin = clock.now();
    (clock, origin)
});

/// The system time now, at most about a [`TICK`] behind, in nanoseconds.
#[inline(always)]
pub(crate) fn now() -> u64 {
    SYSTEM.now()
}

/// A time kept by a thread of its own. There is one, [`SYSTEM`]; tests
/// make others to watch one thread alone.
struct Recent {
    /// The time, in nanoseconds since [`PRECISE`]'s origin, shifted left
    /// by [`SHIFT`], with the flags in the low bits.
    word: AtomicU64,
    /// Set in the child of a `fork`: the thread that kept the word is in
    /// the parent only.
    orphaned: AtomicBool,
    /// The thread that keeps the word, once started; `None` if it could
    /// not be.
    keeper: OnceLock<Option<Thread>>,
}

impl Recent {
    /// No thread has started yet: the word is asleep.
    const fn new() -> Recent {
        Recent {
            word: AtomicU64::new(ASLEEP),
            orphaned: AtomicBool::new(false),
            keeper: OnceLock::new(),
        }
    }

    #[inline(always)]
    fn now(&'static self) -> u64 {
        let word = self.word.load(Relaxed);
        if word & (SEEN | ASLEEP) == SEEN {
            return word >> SHIFT;
        }
        self.first_read(word)
    }

    /// The read of a word that is flagged asleep or not yet seen this tick.
    #[cold]
    #[inline(never)]
    fn first_read(&'static self, word: u64) -> u64 {
        if word & ASLEEP == 0 {
            self.word.fetch_or(SEEN, Relaxed);
            return word >> SHIFT;
        }
        self.wake()
    }

    /// The precise time, published to the word, with the thread woken (or
    /// started) to keep it from here.
    fn wake(&'static self) -> u64 {
        let now = precise();
        if self.orphaned.load(Relaxed) {
            return now;
        }
        let Some(keeper) = self.keeper.get_or_init(|| self.start()) else {
            return now;
        };
        let _ = self.publish(now, SEEN, ASLEEP);
        keeper.unpark();
        now
    }

    /// Writes `nanos` into the word unless it holds a later time, setting
    /// the flags in `set` and clearing those in `clear`; returns the word
    /// it replaced.
    fn publish(&self, nanos: u64, set: u64, clear: u64) -> u64 {
        let update = self.word.fetch_update(Relaxed, Relaxed, |word| {
            let time = (word >> SHIFT).max(nanos);
            Some((time << SHIFT) | (word & (SEEN | ASLEEP) & !clear) | set)
        });
        // The closure always returns `Some`.
        update.unwrap_or_else(|word| word)
    }

    /// Starts the thread; `None` where threads cannot be spawned, or where
    /// a forked child could not be told that it has none.
    fn start(&'static self) -> Option<Thread> {
        #[cfg(unix)]
        if std::ptr::eq(self, &SYSTEM) {
            // SAFETY: the handler only writes atomics, which a child of a
            // multi-threaded `fork` may do before it execs.
            let registered = unsafe { libc::pthread_atfork(None, None, Some(in_forked_child)) };
            if registered != 0 {
                return None;
            }
        }
        thread::Builder::new()
            .name("memo-clock".into())
            .spawn(|| self.keep())
            .ok()
            .map(|handle| handle.thread().clone())
    }

    /// The thread's loop: a new time every tick while the time is read,
    /// parked while it is not.
    fn keep(&self) {
        let mut unread = 0;
        loop {
            thread::sleep(TICK);
            // Whether the last tick's time was read, from the word this one
            // replaces: a read can set SEEN up to the last moment.
            let last = self.publish(precise(), 0, SEEN);
            unread = if last & SEEN == 0 { unread + 1 } else { 0 };
            if unread < IDLE_TICKS {
                continue;
            }
            // Unread for `IDLE_TICKS`: park, unless a read comes in first
            // (the next tick then counts it).
            let word = self.word.load(Relaxed);
            if word & SEEN != 0
                || self
                    .word
                    .compare_exchange(word, word | ASLEEP, Relaxed, Relaxed)
                    .is_err()
            {
                continue;
            }
            unread = 0;
            // The read that clears `ASLEEP` unparks after it, and `unpark`
            // makes what came before it visible to the `park` it ends.
            while self.word.load(Relaxed) & ASLEEP != 0 {
                thread::park();
            }
        }
    }
}

/// In the child of a `fork`: no thread keeps the word any more, so every
/// read goes to the precise clock.
#[cfg(unix)]
extern "C" fn in_forked_child() {
    SYSTEM.orphaned.store(true, Relaxed);
    SYSTEM.word.fetch_or(ASLEEP, Relaxed);
}

/// The precise clock's time, in nanoseconds.
pub(crate) fn precise() -> u64 {
    // Miri runs no inline assembly, which reads the time-stamp counter.
    #[cfg(miri)]
    let nanos = {
        static ORIGIN: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);
        ORIGIN.elapsed().as_nanos()
    };
    #[cfg(not(miri))]
    let nanos = {
        let (clock, origin) = &*PRECISE;
        clock.now().duration_since(*origin).as_nanos()
    };
    u64::try_from(nanos)
        .unwrap_or(u64::MAX)
        .min(u64::MAX >> SHIFT)
}

// They spawn threads that read the time-stamp counter, and fork: not for
// Miri.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    /// A time of its own, with its own thread, that no other test reads.
    fn own() -> &'static Recent {
        Box::leak(Box::new(Recent::new()))
    }

    /// Thirty seconds from now: long enough for a thread on a busy machine
    /// to get a core.
    fn patience() -> std::time::Instant {
        std::time::Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn the_time_never_goes_back_and_follows_the_precise_clock() {
        let recent = own();
        let mut last = recent.now();
        let start = precise();
        let deadline = patience();
        // Until the thread has published a time later than `start`.
        while last <= start {
            assert!(std::time::Instant::now() < deadline, "the time stood still");
            let next = recent.now();
            assert!(next >= last, "went back from {last} to {next}");
            last = next;
        }
        assert!(recent.now() <= precise(), "ahead of the precise clock");
    }

    #[test]
    fn the_thread_parks_when_nobody_reads_and_a_read_wakes_it() {
        let recent = own();
        recent.now();
        assert_eq!(recent.word.load(Relaxed) & ASLEEP, 0, "not woken");
        // Without reading the time, wait for the thread to mark it asleep.
        let deadline = patience();
        while recent.word.load(Relaxed) & ASLEEP == 0 {
            assert!(std::time::Instant::now() < deadline, "never parked");
            thread::sleep(10 * TICK);
        }
        let parked_at = recent.word.load(Relaxed) >> SHIFT;
        thread::sleep(10 * TICK);
        assert_eq!(
            recent.word.load(Relaxed) >> SHIFT,
            parked_at,
            "kept ticking"
        );
        // A read now is the precise time, not the stale word, and wakes it.
        let before = precise();
        assert!(recent.now() >= before, "the asleep word's time was served");
        assert_eq!(
            recent.word.load(Relaxed) & ASLEEP,
            0,
            "the read did not wake it"
        );
        let woken_at = recent.word.load(Relaxed) >> SHIFT;
        while recent.word.load(Relaxed) >> SHIFT == woken_at {
            assert!(
                std::time::Instant::now() < deadline,
                "woken but not ticking"
            );
            thread::sleep(TICK);
        }
    }

    /// The child of a `fork` has no `memo-clock` thread: without the
    /// `atfork` handler its time would stand still at the parent's last
    /// tick.
    #[cfg(unix)]
    #[test]
    fn a_forked_child_reads_a_time_that_moves() {
        // The parent's thread is running and the precise clock calibrated.
        now();
        assert_eq!(SYSTEM.word.load(Relaxed) & ASLEEP, 0);
        // SAFETY: the child only loads atomics, reads the clock that
        // `now()` calibrated above, and exits; it allocates nothing and
        // takes no lock that another thread of this process may hold.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let first = now();
            // Well over a tick of the precise clock, by spinning.
            let until = precise() + 20 * TICK.as_nanos() as u64;
            while precise() < until {}
            let moved = now() >= until;
            let orphaned = SYSTEM.orphaned.load(Relaxed);
            let code = if moved && orphaned && first <= until {
                0
            } else {
                1
            };
            // SAFETY: ends the child without running the parent's exit
            // handlers or the test harness.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        let waited = unsafe { libc::waitpid(child, &mut status, 0) };
        assert_eq!(waited, child);
        assert!(libc::WIFEXITED(status), "the child did not exit");
        assert_eq!(libc::WEXITSTATUS(status), 0, "the child's time stood still");
        assert!(!SYSTEM.orphaned.load(Relaxed), "the parent was orphaned");
    }

    #[test]
    fn an_orphaned_time_reads_the_precise_clock() {
        let recent = own();
        recent.orphaned.store(true, Relaxed);
        let before = precise();
        assert!(recent.now() >= before);
        assert!(recent.keeper.get().is_none(), "an orphan started a thread");
        assert_ne!(recent.word.load(Relaxed) & ASLEEP, 0);
    }
}
