//! Hits and misses, counted per thread.
//!
//! A hit is the product's hot path, and a shared counter would cost it a
//! locked read-modify-write (about 5 ns here, a fifth of a `u64` hit) and
//! a cache line that every core writes. Each thread counts in a line of its
//! own instead, with a plain load and store, since no other thread writes
//! it; `stats()` sums the lines.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use thread_local::ThreadLocal;

/// One cache's lookups, counted per thread.
#[derive(Debug, Default)]
pub(crate) struct Lookups(ThreadLocal<ThreadLookups>);

/// One thread's lookups of one cache, alone on its cache line. Only the
/// thread that owns it writes it; a thread that exits leaves its counts to
/// the next thread given its slot, so nothing counted is lost.
#[derive(Debug, Default)]
#[repr(align(64))]
struct ThreadLookups {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Lookups {
    /// Counts a hit.
    #[inline(always)]
    pub(crate) fn hit(&self) {
        add_own(&self.0.get_or_default().hits);
    }

    /// Counts a miss.
    #[inline(always)]
    pub(crate) fn miss(&self) {
        add_own(&self.0.get_or_default().misses);
    }

    /// Hits and misses so far, summed over the threads. A thread's count
    /// of a lookup that is still in progress may be missing.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.0.iter().fold((0, 0), |(hits, misses), counts| {
            (
                hits + counts.hits.load(Relaxed),
                misses + counts.misses.load(Relaxed),
            )
        })
    }
}

/// Adds one to a counter only the calling thread writes: a load and a
/// store, no locked instruction. Atomic all the same, so that `totals`
/// reads it whole from another thread.
#[inline(always)]
fn add_own(counter: &AtomicU64) {
    counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn every_threads_lookups_are_summed_even_after_it_exits() {
        let lookups = Lookups::default();
        let start = Barrier::new(4);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    start.wait();
                    for _ in 0..10_000 {
                        lookups.hit();
                    }
                    lookups.miss();
                });
            }
        });
        lookups.hit();
        assert_eq!(lookups.totals(), (40_001, 4));
        // A thread started after the others exited takes over a slot of
        // theirs and adds to it.
        std::thread::scope(|scope| {
            scope.spawn(|| lookups.miss());
        });
        assert_eq!(lookups.totals(), (40_001, 5));
    }
}
