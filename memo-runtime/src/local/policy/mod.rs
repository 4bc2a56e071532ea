//! Eviction policies: which entry leaves when a cache is full.

mod lists;
mod s3fifo;

use std::fmt;
use std::str::FromStr;

use lists::Lists;
pub(crate) use lists::{NodeId, Place};
use s3fifo::S3Fifo;

/// How a full cache chooses the entry to evict.
///
/// - [`Eviction::Fifo`]: the oldest stored entry leaves first, as in the
///   original design (the oldest of its shard: see [`AsyncCache`]'s bound). Predictable; hits cost nothing extra.
/// - [`Eviction::S3Fifo`]: S3-FIFO (Yang et al., SOSP 2023). New entries go to
///   a small probationary queue (3% of the bound); those hit while there are
///   promoted to the main queue, the rest leave quickly and are remembered in
///   a ghost queue (hashes only), so a key that comes back is admitted to the
///   main queue at once. Entries in the main queue that were hit get another
///   round. One-hit wonders stop pushing out popular keys, which raises the
///   hit ratio on skewed workloads (see BENCHMARKS.md). A hit only bumps a
///   small counter in its own entry.
///
/// The default is [`Eviction::S3Fifo`], unless [`Config::eviction`] says
/// otherwise: hits cost the same under both (each bumps its entry's
/// counter), and S3-FIFO hits far more often on skewed and scanned streams
/// (45.98% against 30.60%, see BENCHMARKS.md). A miss that evicts costs
/// S3-FIFO about 9% more. Choose `Fifo` for its plain insertion order.
///
/// [`Config::eviction`]: crate::Config::eviction
/// [`AsyncCache`]: crate::AsyncCache
///
/// ```
/// use memo_runtime::{AsyncCache, Eviction};
///
/// let cache = AsyncCache::builder().max_size(1000).eviction(Eviction::S3Fifo).build().unwrap();
/// assert_eq!(cache.eviction(), Eviction::S3Fifo);
/// assert_eq!("s3_fifo".parse::<Eviction>(), Ok(Eviction::S3Fifo));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Eviction {
    /// First in, first out.
    #[default]
    Fifo,
    /// S3-FIFO: a small probationary queue, a main queue and a ghost queue.
    S3Fifo,
}

impl Eviction {
    /// The names `FromStr` accepts, as the attribute's `eviction = ...` does.
    pub const NAMES: &'static [&'static str] = &["fifo", "s3_fifo"];
}

impl fmt::Display for Eviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Eviction::Fifo => "fifo",
            Eviction::S3Fifo => "s3_fifo",
        })
    }
}

impl FromStr for Eviction {
    type Err = String;

    /// `"fifo"` or `"s3_fifo"`.
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "fifo" => Ok(Eviction::Fifo),
            "s3_fifo" => Ok(Eviction::S3Fifo),
            other => Err(format!(
                "unknown eviction policy `{other}`; the policies are `fifo` and `s3_fifo`"
            )),
        }
    }
}

/// Reads an entry's access counter and lowers it by one (saturating), as a
/// policy inspects an eviction candidate. Implemented by the store, which
/// keeps the counters in its entries so that hits touch nothing else.
pub(crate) trait AccessCounts {
    fn take_access(&mut self, node: NodeId, place: Place) -> u8;
}

/// A policy's state: one per store shard, under the shard's write lock.
pub(crate) enum Policy {
    Fifo(Lists),
    S3Fifo(S3Fifo),
}

const FIFO: usize = 0;

impl Policy {
    pub(crate) fn new(eviction: Eviction, max_size: usize) -> Self {
        match eviction {
            Eviction::Fifo => Policy::Fifo(Lists::new()),
            Eviction::S3Fifo => Policy::S3Fifo(S3Fifo::new(max_size)),
        }
    }

    /// How many entries are linked.
    pub(crate) fn len(&self) -> usize {
        match self {
            Policy::Fifo(lists) => lists.total(),
            Policy::S3Fifo(s3) => s3.len(),
        }
    }

    /// Links a newly stored entry.
    pub(crate) fn admit(&mut self, place: Place) -> NodeId {
        match self {
            Policy::Fifo(lists) => lists.push_back(FIFO, place),
            Policy::S3Fifo(s3) => s3.admit(place),
        }
    }

    /// An entry was stored again: it is new again, at the back of its queue.
    pub(crate) fn restored(&mut self, node: NodeId) {
        match self {
            Policy::Fifo(lists) => lists.move_to_back(node, FIFO),
            Policy::S3Fifo(s3) => s3.restored(node),
        }
    }

    /// Unlinks an entry that was deleted or expired.
    pub(crate) fn remove(&mut self, node: NodeId) {
        match self {
            Policy::Fifo(lists) => lists.unlink(node),
            Policy::S3Fifo(s3) => s3.remove(node),
        }
    }

    /// Chooses the entry to evict and unlinks it; the store removes it.
    pub(crate) fn evict(&mut self, counters: &mut impl AccessCounts) -> Option<(NodeId, Place)> {
        match self {
            Policy::Fifo(lists) => {
                let victim = lists.front(FIFO)?;
                lists.unlink(victim.0);
                Some(victim)
            }
            Policy::S3Fifo(s3) => s3.evict(counters),
        }
    }

    /// Forgets every entry (the ghost queue of S3-FIFO too).
    pub(crate) fn clear(&mut self) {
        match self {
            Policy::Fifo(lists) => lists.clear(),
            Policy::S3Fifo(s3) => s3.clear(),
        }
    }
}
