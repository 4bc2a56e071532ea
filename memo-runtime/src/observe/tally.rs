//! Hits and misses, counted per thread: the counts a lookup writes are its
//! own thread's, on a cache line of their own, so a hit writes nothing that
//! another core reads, and, with one writer per count, adds with a load and
//! a store instead of a locked read-modify-write. `stats()` sums them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use thread_local::ThreadLocal;

/// One thread's counts, alone on their cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The hits and misses of one store, a [`Counts`] per thread that looked
/// something up. A thread's counts outlive it (a thread started later may
/// take them over and go on counting), so no count is lost.
#[derive(Default)]
pub(crate) struct Tally(ThreadLocal<Counts>);

impl Tally {
    #[inline(always)]
    pub(crate) fn hit(&self) {
        add_one(&self.0.get_or_default().hits);
    }

    #[inline(always)]
    pub(crate) fn miss(&self) {
        add_one(&self.0.get_or_default().misses);
    }

    /// The hits and misses of every thread so far. Each thread's latest
    /// counts may be a moment late, as with any relaxed counter.
    pub(crate) fn read(&self) -> (u64, u64) {
        self.0.iter().fold((0, 0), |(hits, misses), counts| {
            (
                hits + counts.hits.load(Relaxed),
                misses + counts.misses.load(Relaxed),
            )
        })
    }
}

/// Adds one to a count that only the calling thread writes (`ThreadLocal`
/// hands each thread its own), so the load and the store cannot interleave
/// with another write.
#[inline(always)]
fn add_one(count: &AtomicU64) {
    count.store(count.load(Relaxed) + 1, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_every_thread_add_up() {
        let tally = Tally::default();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        tally.hit();
                    }
                    tally.miss();
                });
            }
        });
        tally.hit();
        assert_eq!(tally.read(), (40_001, 4));
    }
}
