//! Cache statistics: the public snapshot, and the counters that record it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use super::Event;
use super::lookups::Lookups;

/// A snapshot of a cache's counters since it was created.
///
/// Every lookup is either a hit or a miss. A miss whose caller was served by a
/// load another caller was already running (single flight) is also counted in
/// `coalesced`, so `misses - coalesced` is about how often a body ran.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use memo_runtime::AsyncCache;
///
/// let cache = AsyncCache::new();
/// cache.set("a", 1u32).await;
/// assert_eq!(cache.get::<_, u32>("a").await, Some(1));
/// assert_eq!(cache.get::<_, u32>("b").await, None);
/// let stats = cache.stats();
/// assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
/// assert_eq!(stats.hit_ratio(), 0.5);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing usable (absent, expired, or of another type).
    pub misses: u64,
    /// Values stored (a re-set counts again).
    pub inserts: u64,
    /// Entries removed to stay within `max_size`.
    pub evictions: u64,
    /// Expired entries removed, lazily or by `cleanup_expired`.
    pub expirations: u64,
    /// Entries removed by `delete`, `invalidate`, or a clear.
    pub invalidations: u64,
    /// Misses served by another caller's load of the same key.
    pub coalesced: u64,
    /// Calls whose arguments could not be keyed and ran uncached.
    pub key_errors: u64,
    /// Calls answered with a value past its TTL, kept by `stale`, because
    /// the reload failed: the callers of the failed reload, and the hits on
    /// the kept value during its `stale_retry` throttle.
    pub stale_served: u64,
    /// Reloads started in the background because a value was due
    /// (refresh-ahead); the callers that found it due got it at once.
    pub refreshes: u64,
    /// Background reloads that failed (an `Err` or a panic); the old value
    /// was kept.
    pub refresh_errors: u64,
    /// In-memory misses answered by the shared tier (a
    /// `SharedCache`'s, feature `redis`; zero elsewhere).
    pub shared_hits: u64,
    /// In-memory misses the shared tier had nothing for.
    pub shared_misses: u64,
    /// Shared-tier operations that failed, timed out or were skipped
    /// because the tier was down, and values read back that did not decode.
    pub shared_errors: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 0 when nothing was looked up.
    ///
    /// ```
    /// let stats = memo_runtime::CacheStats::default();
    /// assert_eq!(stats.hit_ratio(), 0.0);
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

/// What a store counts in its shards rather than as events: stores and
/// evictions, summed over the shards.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoreCounts {
    pub(crate) inserts: u64,
    pub(crate) evictions: u64,
}

/// The recorder of [`Event`]s, a counter per kind, and of hits and misses.
/// Hits and misses are counted per thread ([`Lookups`]), so that a hit
/// writes no cache line another thread writes, with no locked instruction.
/// Stores and evictions are counted per store shard instead (see `local`),
/// under the shard's lock.
#[derive(Debug, Default)]
pub(crate) struct EventCounters {
    lookups: Lookups,
    expirations: AtomicU64,
    invalidations: AtomicU64,
    coalesced: AtomicU64,
    key_errors: AtomicU64,
    stale_served: AtomicU64,
    refreshes: AtomicU64,
    refresh_errors: AtomicU64,
    shared_hits: AtomicU64,
    shared_misses: AtomicU64,
    shared_errors: AtomicU64,
    /// The cache's name in the registry, for traces.
    name: OnceLock<Arc<str>>,
}

impl EventCounters {
    /// Names the cache these count for (in traces); the first name stays.
    pub(crate) fn name_as(&self, name: Arc<str>) {
        let _ = self.name.set(name);
    }

    /// The cache's name, or `unnamed`.
    pub(crate) fn name(&self) -> &str {
        self.name.get().map_or("unnamed", |name| name)
    }

    /// Counts a hit.
    #[inline(always)]
    pub(crate) fn hit(&self) {
        self.lookups.hit();
    }

    /// Counts a miss.
    #[inline(always)]
    pub(crate) fn miss(&self) {
        self.lookups.miss();
    }

    /// Counts `event`.
    #[inline]
    pub(crate) fn record(&self, event: Event) {
        let (counter, n) = match event {
            Event::Expired(n) => (&self.expirations, n),
            Event::Invalidated(n) => (&self.invalidations, n),
            Event::Coalesced => (&self.coalesced, 1),
            Event::KeyError => (&self.key_errors, 1),
            Event::StaleServed => (&self.stale_served, 1),
            Event::RefreshStarted => (&self.refreshes, 1),
            Event::RefreshFailed => (&self.refresh_errors, 1),
            #[cfg(feature = "redis")]
            Event::SharedHit => (&self.shared_hits, 1),
            #[cfg(feature = "redis")]
            Event::SharedMiss => (&self.shared_misses, 1),
            #[cfg(feature = "redis")]
            Event::SharedError => (&self.shared_errors, 1),
        };
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
        #[cfg(feature = "tracing")]
        super::trace::cache_event(self.name(), event);
    }

    /// The statistics: what the store counted in `store`, and the events.
    pub(crate) fn snapshot(&self, store: StoreCounts) -> CacheStats {
        let StoreCounts { inserts, evictions } = store;
        let (hits, misses) = self.lookups.totals();
        CacheStats {
            hits,
            misses,
            inserts,
            evictions,
            expirations: self.expirations.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            key_errors: self.key_errors.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
            refreshes: self.refreshes.load(Relaxed),
            refresh_errors: self.refresh_errors.load(Relaxed),
            shared_hits: self.shared_hits.load(Relaxed),
            shared_misses: self.shared_misses.load(Relaxed),
            shared_errors: self.shared_errors.load(Relaxed),
        }
    }
}
