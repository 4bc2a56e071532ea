//! A key as the tables see it: hashed once, and placed in a shard by one
//! formula, so a key's entry and its load in flight live in the same shard,
//! under one lock.

use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroUsize;
use std::sync::LazyLock;

/// A key to look up, hashed once.
#[derive(Clone, Copy)]
pub(crate) struct Probe<'a> {
    pub(crate) namespace: &'static str,
    pub(crate) id: &'a [u8],
    pub(crate) hash: u64,
}

/// The hasher of one cache's keys; seeded at random per cache, so hashes
/// mean nothing outside it (equality is always decided on the key bytes).
pub(crate) struct KeyHasher(foldhash::fast::RandomState);

impl KeyHasher {
    pub(crate) fn new() -> KeyHasher {
        KeyHasher(foldhash::fast::RandomState::default())
    }

    /// The hash of the key `namespace` + `id`. The namespace enters by its
    /// length only (cheap, and namespaces of one cache rarely collide in
    /// length and identity both; equality checks the full key anyway).
    #[inline(always)]
    pub(crate) fn hash(&self, namespace: &str, id: &[u8]) -> u64 {
        let mut hasher = self.0.build_hasher();
        hasher.write(id);
        hasher.write_usize(namespace.len());
        hasher.finish()
    }

    #[inline(always)]
    pub(crate) fn probe<'a>(&self, namespace: &'static str, id: &'a [u8]) -> Probe<'a> {
        Probe {
            namespace,
            id,
            hash: self.hash(namespace, id),
        }
    }
}

/// Four shards per core, up to 64: enough that two threads rarely meet.
pub(crate) static SHARDS: LazyLock<usize> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(4, NonZeroUsize::get);
    (cores * 4).next_power_of_two().min(64)
});

/// The shard of a hash among `shards` (a power of two). hashbrown uses the
/// low bits for the bucket and the top seven as the tag, so the shard comes
/// from bits in between.
#[inline(always)]
pub(crate) fn shard_of(hash: u64, shards: usize) -> usize {
    debug_assert!(shards.is_power_of_two());
    (hash >> 32) as usize & (shards - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hasher_hashes_one_key_alike_and_namespaces_apart() {
        let hasher = KeyHasher::new();
        assert_eq!(
            hasher.hash("a::f", b"\x21\x07"),
            hasher.hash("a::f", b"\x21\x07")
        );
        assert_ne!(
            hasher.hash("a::f", b"\x21\x07"),
            hasher.hash("a::ff", b"\x21\x07")
        );
        let probe = hasher.probe("a::f", b"\x21\x07");
        assert_eq!(probe.hash, hasher.hash("a::f", b"\x21\x07"));
    }

    #[test]
    fn shards_are_a_power_of_two_and_every_one_is_used() {
        assert!(SHARDS.is_power_of_two());
        let hasher = KeyHasher::new();
        let mut used = vec![false; *SHARDS];
        for i in 0u32..10_000 {
            used[shard_of(hasher.hash("", &i.to_le_bytes()), *SHARDS)] = true;
        }
        assert!(used.iter().all(|&u| u));
    }
}
