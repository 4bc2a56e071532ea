//! What a cache tells about itself. Everything worth counting that happens
//! off the hit path is one [`Event`], recorded in one place
//! ([`EventCounters::record`]); statistics are the first recorder, tracing
//! and metrics will be others beside it.

#[cfg(feature = "metrics")]
mod facade;
mod lookups;
pub(crate) mod registry;
pub(crate) mod source;
mod stats;
pub(crate) mod trace;

#[cfg(feature = "metrics")]
pub use facade::{publish_metrics, publish_metrics_every};
pub use registry::{CacheInfo, caches, report};
pub use source::Source;
pub use stats::CacheStats;
pub(crate) use stats::{EventCounters, StoreCounts};

/// Something that happened to a cache, off the hit path. Hits, misses,
/// stores and evictions are counted apart, in the store's shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// This many expired entries were reclaimed.
    Expired(u64),
    /// This many entries were removed by a delete, invalidation or clear.
    Invalidated(u64),
    /// A miss was served by another caller's load.
    Coalesced,
    /// A call's arguments could not be keyed; it ran uncached.
    KeyError,
    /// A call was answered with a value kept past its TTL, because its
    /// reload failed (or failed a moment ago and is not retried yet).
    StaleServed,
    /// A reload started in the background (refresh-ahead).
    RefreshStarted,
    /// A reload in the background failed (an `Err` or a panic); the old
    /// value stays.
    RefreshFailed,
    /// An in-memory miss answered by the shared tier.
    #[cfg(feature = "redis")]
    SharedHit,
    /// An in-memory miss the shared tier had nothing for.
    #[cfg(feature = "redis")]
    SharedMiss,
    /// A shared-tier operation that failed, timed out, was skipped (tier
    /// down, breaker open), or read bytes that did not decode.
    #[cfg(feature = "redis")]
    SharedError,
}
