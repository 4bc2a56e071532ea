//! Hits and misses, counted per thread.
//!
//! A hit is the product's hot path, and a shared counter would cost it a
//! locked read-modify-write (about 5 ns here, a fifth of a `u64` hit) and
//! a cache line that every core writes. Each thread with an index of its
//! own ([`threads`](crate::threads)) counts in a line of its own instead,
//! with a plain load and store, since no other thread writes it; `stats()`
//! sums the lines. A thread without one (past 128 live threads, or exiting)
//! counts in a shared line with a locked add.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::threads::{THREADS, own_index};

/// Threads whose cells are allocated together, on a thread's first lookup.
const PER_BLOCK: usize = 8;

/// One cache's lookups: a cell per thread index, in blocks made as threads
/// come, and a shared cell for threads without an index.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    blocks: [OnceLock<Box<[Cell; PER_BLOCK]>>; THREADS / PER_BLOCK],
    shared: Cell,
}

/// One thread index's lookups of one cache, alone on its cache line. Only
/// the thread holding the index writes it; a thread that exits leaves its
/// counts to the next thread given its index, so nothing counted is lost.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Cell {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Lookups {
    /// Counts a hit.
    #[inline(always)]
    pub(crate) fn hit(&self) {
        self.count(|cell| &cell.hits);
    }

    /// Counts a miss.
    #[inline(always)]
    pub(crate) fn miss(&self) {
        self.count(|cell| &cell.misses);
    }

    /// Adds one to the `counter` of this thread's cell, or of the shared
    /// one for a thread without an index.
    #[inline(always)]
    fn count(&self, counter: impl Fn(&Cell) -> &AtomicU64) {
        match own_index() {
            Some(index) => add_own(counter(self.cell(index))),
            None => {
                counter(&self.shared).fetch_add(1, Relaxed);
            }
        }
    }

    /// The cell of thread index `index`, its block made on first use.
    #[inline(always)]
    fn cell(&self, index: usize) -> &Cell {
        let block = self.blocks[index / PER_BLOCK].get_or_init(Box::default);
        &block[index % PER_BLOCK]
    }

    /// Hits and misses so far, summed over the threads. A thread's count
    /// of a lookup that is still in progress may be missing.
    pub(crate) fn totals(&self) -> (u64, u64) {
        let cells = self
            .blocks
            .iter()
            .flat_map(|block| block.get())
            .flat_map(|cells| cells.iter());
        std::iter::once(&self.shared)
            .chain(cells)
            .fold((0, 0), |(hits, misses), cell| {
                (
                    hits + cell.hits.load(Relaxed),
                    misses + cell.misses.load(Relaxed),
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
        std::thread::scope(|scope| {
            scope.spawn(|| lookups.miss());
        });
        assert_eq!(lookups.totals(), (40_001, 5));
    }

    #[test]
    fn a_thread_without_an_index_counts_in_the_shared_cell() {
        let lookups = Lookups::default();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                own_index().expect("an index");
                crate::threads::give_back_early();
                lookups.hit();
                lookups.miss();
            });
        });
        let shared = &lookups.shared;
        assert_eq!(
            (shared.hits.load(Relaxed), shared.misses.load(Relaxed)),
            (1, 1)
        );
        assert_eq!(lookups.totals(), (1, 1));
    }

    #[test]
    fn a_cache_without_lookups_is_small() {
        assert_eq!(std::mem::size_of::<Lookups>(), 320);
    }

    #[test]
    fn a_thread_counts_in_its_own_cell() {
        let lookups = Lookups::default();
        let index = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let index = own_index().expect("an index");
                    lookups.hit();
                    lookups.hit();
                    lookups.miss();
                    index
                })
                .join()
                .unwrap()
        });
        let cell = lookups.cell(index);
        assert_eq!((cell.hits.load(Relaxed), cell.misses.load(Relaxed)), (2, 1));
        assert_eq!(lookups.shared.hits.load(Relaxed), 0, "not the shared cell");
    }
}
