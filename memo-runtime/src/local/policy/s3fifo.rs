//! S3-FIFO (Yang, Zhang, Qiu, Yue, Rashmi; SOSP 2023): three FIFO queues.
//!
//! - *small* (3% of the bound): where new entries start;
//! - *main*: entries that were hit while in *small*, or came back soon after
//!   leaving it;
//! - *ghost*: hashes of entries evicted from *small* (half the bound), so a
//!   key that returns soon skips probation.
//!
//! The shares are quick_cache's defaults (hot 97%, ghost 50%), not the
//! paper's 10% and a ghost as large as *main*. On the benchmark's Zipf
//! stream, with and without scans, the paper's shares hit 45.08% and 36.08%.
//! These hit 45.99% and 36.79%, where quick_cache hits 45.95% and 36.75%
//! (`cargo bench -p memo-bench --bench quality`, workloads 7 and 7b). A
//! large ghost sends every key that comes back once into *main*, where it
//! pushes out keys that are hot.
//!
//! Eviction takes the oldest entry of *small* while *small* is at or over its
//! share: if it was hit, it moves to *main*, otherwise it leaves and its hash
//! goes to *ghost*. Otherwise it takes the oldest of *main*: if it was hit, it
//! goes round again with one hit fewer, otherwise it leaves. Hits only bump a
//! 2-bit counter in the entry (kept by the store), so they never touch these
//! queues. The ghost remembers 64-bit hashes only: a collision merely admits
//! an entry to *main*, it never decides what a key's value is.

use super::AccessCounts;
use super::lists::{Lists, NodeId, Place};

const SMALL: usize = 0;
const MAIN: usize = 1;

/// *small*'s share of the bound, in percent.
const SMALL_PERCENT: usize = 3;
/// How many hashes *ghost* remembers, in percent of the bound.
const GHOST_PERCENT: usize = 50;

/// `percent`% of `bound`, rounded down, without overflowing.
fn percent_of(bound: usize, percent: usize) -> usize {
    (bound as u128 * percent as u128 / 100) as usize
}

pub(crate) struct S3Fifo {
    lists: Lists,
    /// The share of *small*: 3% of the bound, at least one entry.
    small_target: usize,
    ghost: Ghost,
}

impl S3Fifo {
    pub(crate) fn new(max_size: usize) -> Self {
        let small_target = percent_of(max_size, SMALL_PERCENT).max(1);
        S3Fifo {
            lists: Lists::new(),
            small_target,
            ghost: Ghost::new(percent_of(max_size, GHOST_PERCENT).max(1)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lists.total()
    }

    pub(crate) fn admit(&mut self, place: Place) -> NodeId {
        let queue = if self.ghost.forget(place.hash) {
            MAIN
        } else {
            SMALL
        };
        self.lists.push_back(queue, place)
    }

    pub(crate) fn restored(&mut self, node: NodeId) {
        let queue = self.lists.queue_of(node);
        self.lists.move_to_back(node, queue);
    }

    pub(crate) fn remove(&mut self, node: NodeId) {
        self.lists.unlink(node);
    }

    pub(crate) fn evict(&mut self, counters: &mut impl AccessCounts) -> Option<(NodeId, Place)> {
        // Every pass either evicts or spends one of a candidate's hits, and
        // there are at most three hits per entry, so this ends.
        loop {
            let from_small =
                self.lists.len(SMALL) >= self.small_target || self.lists.len(MAIN) == 0;
            let queue = if from_small { SMALL } else { MAIN };
            let (node, place) = self.lists.front(queue)?;
            let was_hit = counters.take_access(node, place) > 0;
            match (from_small, was_hit) {
                // Hit in small: promoted; hit in main: another round.
                (_, true) => self.lists.move_to_back(node, MAIN),
                (true, false) => {
                    self.lists.unlink(node);
                    self.ghost.remember(place.hash);
                    return Some((node, place));
                }
                (false, false) => {
                    self.lists.unlink(node);
                    return Some((node, place));
                }
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.lists.clear();
        self.ghost.clear();
    }
}

/// The hashes of keys that left *small* unhit, in a table of one hash per
/// slot: a hash goes to the slot its own bits pick, over whatever was
/// there. Remembering and forgetting are one store each, with no
/// allocation and no queue, which is most of what a miss pays for the
/// ghost. Overwriting an older hash in its slot is the table's way to
/// forget it: a random old one instead of the oldest.
///
/// The table is made at the first eviction, when the cache holds its bound
/// (a cache that never fills, or one bounded at `usize::MAX`, never pays
/// for it): 4 bytes per entry it holds then.
struct Ghost {
    /// 0: empty; else a hash with its lowest bit set (so never 0). Empty
    /// until the first hash is remembered.
    slots: Box<[u64]>,
    capacity: usize,
}

impl Ghost {
    fn new(capacity: usize) -> Ghost {
        Ghost {
            slots: Box::default(),
            capacity,
        }
    }

    fn slot(&self, hash: u64) -> usize {
        // The high bits scaled to the table (the low ones pick shards).
        ((u128::from(hash) * self.slots.len() as u128) >> 64) as usize
    }

    fn remember(&mut self, hash: u64) {
        if self.slots.is_empty() {
            self.slots = vec![0; self.capacity].into_boxed_slice();
        }
        let slot = self.slot(hash);
        self.slots[slot] = hash | 1;
    }

    /// Whether `hash` is remembered; it is forgotten either way.
    fn forget(&mut self, hash: u64) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let slot = self.slot(hash);
        let found = self.slots[slot] == hash | 1;
        if found {
            self.slots[slot] = 0;
        }
        found
    }

    fn clear(&mut self) {
        self.slots.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap as StdMap;

    /// Access counters by hash, standing in for the store's entries.
    #[derive(Default)]
    struct Hits(StdMap<u64, u8>);

    impl AccessCounts for Hits {
        fn take_access(&mut self, _node: NodeId, place: Place) -> u8 {
            let count = self.0.entry(place.hash).or_insert(0);
            let old = *count;
            *count = count.saturating_sub(1);
            old
        }
    }

    fn place(hash: u64) -> Place {
        Place { hash }
    }

    #[test]
    fn unhit_newcomers_leave_before_hit_entries() {
        let mut s3 = S3Fifo::new(10);
        let mut hits = Hits::default();
        for key in 0..10 {
            s3.admit(place(key));
        }
        hits.0.insert(0, 1); // key 0 was hit once
        let (_, victim) = s3.evict(&mut hits).unwrap();
        assert_eq!(victim.hash, 1, "0 was hit and moves to main; 1 leaves");
        assert_eq!(s3.lists.len(MAIN), 1);
    }

    #[test]
    fn a_key_evicted_from_small_comes_back_into_main() {
        let mut s3 = S3Fifo::new(10);
        let mut hits = Hits::default();
        for key in 0..11 {
            s3.admit(place(key));
        }
        let (_, victim) = s3.evict(&mut hits).unwrap();
        assert_eq!(victim.hash, 0);
        let node = s3.admit(place(0));
        assert_eq!(s3.lists.queue_of(node), MAIN);
        // The ghost entry was used up.
        let node = s3.admit(place(0));
        assert_eq!(s3.lists.queue_of(node), SMALL);
    }

    #[test]
    fn eviction_always_finds_a_victim_and_keeps_the_ghost_bounded() {
        let mut s3 = S3Fifo::new(20);
        let mut hits = Hits::default();
        for key in 0..10_000u64 {
            hits.0.insert(key % 37, 3);
            s3.admit(place(key % 997));
            while s3.len() > 20 {
                assert!(s3.evict(&mut hits).is_some());
            }
        }
        assert_eq!(s3.ghost.slots.len(), 10, "half the bound, never more");
    }

    #[test]
    fn the_ghost_table_is_made_at_the_first_eviction() {
        // Half of usize::MAX slots could never be allocated.
        let mut s3 = S3Fifo::new(usize::MAX);
        s3.admit(place(1));
        assert!(s3.ghost.slots.is_empty());
        let mut small = S3Fifo::new(4);
        for key in 0..5 {
            small.admit(place(key));
        }
        assert!(small.ghost.slots.is_empty());
        small.evict(&mut Hits::default()).unwrap();
        assert_eq!(small.ghost.slots.len(), 2);
    }
}
