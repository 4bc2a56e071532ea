//! The registry through the [`metrics`] facade (feature `metrics`), for
//! Prometheus, OpenTelemetry or any other exporter: counters and gauges per
//! cache, labelled `cache = <name>`.
//!
//! Nothing is recorded as calls happen: the hit path writes only its own
//! thread's counters, as without the feature. [`publish_metrics`] reads
//! those counters (as [`caches`] does) and hands their totals
//! to the recorder, so call it where the exporter renders (before a scrape
//! is answered), or every few seconds with [`publish_metrics_every`].

use std::collections::BTreeMap;
use std::sync::Once;
use std::time::Duration;

use super::{CacheStats, caches};

/// A counter: its name, what it counts, and how to read it.
type Counter = (&'static str, &'static str, fn(&CacheStats) -> u64);

/// The counters, with what each counts.
const COUNTERS: [Counter; 13] = [
    ("memo_hits_total", "Lookups answered from memory", |s| {
        s.hits
    }),
    (
        "memo_misses_total",
        "Lookups that found nothing usable",
        |s| s.misses,
    ),
    (
        "memo_loads_total",
        "Misses that ran the body (the others waited for one)",
        |s| s.misses.saturating_sub(s.coalesced),
    ),
    ("memo_inserts_total", "Values stored", |s| s.inserts),
    (
        "memo_evictions_total",
        "Entries evicted by the size bound",
        |s| s.evictions,
    ),
    ("memo_expirations_total", "Expired entries reclaimed", |s| {
        s.expirations
    }),
    (
        "memo_invalidations_total",
        "Entries removed by delete, invalidate or clear",
        |s| s.invalidations,
    ),
    (
        "memo_stale_served_total",
        "Calls answered with a value kept past its TTL",
        |s| s.stale_served,
    ),
    (
        "memo_refreshes_total",
        "Reloads started in the background",
        |s| s.refreshes,
    ),
    (
        "memo_refresh_errors_total",
        "Background reloads that failed",
        |s| s.refresh_errors,
    ),
    (
        "memo_shared_hits_total",
        "Memory misses answered by the shared tier",
        |s| s.shared_hits,
    ),
    (
        "memo_shared_misses_total",
        "Memory misses the shared tier had nothing for",
        |s| s.shared_misses,
    ),
    (
        "memo_shared_errors_total",
        "Shared-tier operations that failed or were skipped",
        |s| s.shared_errors,
    ),
];

/// Hands every cache's counters and sizes to the installed `metrics`
/// recorder: the counters in the table below, as totals since each cache
/// was made, and the gauges `memo_entries` and `memo_max_entries`, all
/// labelled `cache` with the name [`caches`] gives. Caches
/// that share a name are summed.
///
/// | counter | counts |
/// |---|---|
/// | `memo_hits_total`, `memo_misses_total` | lookups |
/// | `memo_loads_total` | misses that ran the body |
/// | `memo_inserts_total`, `memo_evictions_total`, `memo_expirations_total`, `memo_invalidations_total` | entries |
/// | `memo_stale_served_total`, `memo_refreshes_total`, `memo_refresh_errors_total` | freshness |
/// | `memo_shared_hits_total`, `memo_shared_misses_total`, `memo_shared_errors_total` | the shared tier |
///
/// ```
/// use memo_runtime::{cached, publish_metrics};
///
/// #[cached]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// square(3);
/// // With an exporter installed (`metrics_exporter_prometheus`...), call
/// // this before each scrape is rendered; without one it does nothing.
/// publish_metrics();
/// ```
pub fn publish_metrics() {
    static DESCRIBED: Once = Once::new();
    DESCRIBED.call_once(describe);
    let mut by_name: BTreeMap<String, (usize, usize, CacheStats)> = BTreeMap::new();
    for cache in caches() {
        let (len, max, stats) = by_name.entry(cache.name).or_default();
        *len += cache.len;
        *max += cache.max_size;
        *stats = sum(stats, &cache.stats);
    }
    for (name, (len, max, stats)) in by_name {
        for (counter, _, read) in COUNTERS {
            metrics::counter!(counter, "cache" => name.clone()).absolute(read(&stats));
        }
        metrics::gauge!("memo_entries", "cache" => name.clone()).set(len as f64);
        metrics::gauge!("memo_max_entries", "cache" => name).set(max as f64);
    }
}

/// Runs [`publish_metrics`] every `interval`, forever: spawn it on a tokio
/// runtime (`tokio::spawn(publish_metrics_every(Duration::from_secs(10)))`)
/// for an exporter that pushes or that cannot call it before a scrape.
pub async fn publish_metrics_every(interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        publish_metrics();
    }
}

fn describe() {
    for (counter, what, _) in COUNTERS {
        metrics::describe_counter!(counter, what);
    }
    metrics::describe_gauge!("memo_entries", "Entries in memory");
    metrics::describe_gauge!("memo_max_entries", "The most entries kept in memory");
}

fn sum(a: &CacheStats, b: &CacheStats) -> CacheStats {
    CacheStats {
        hits: a.hits + b.hits,
        misses: a.misses + b.misses,
        inserts: a.inserts + b.inserts,
        evictions: a.evictions + b.evictions,
        expirations: a.expirations + b.expirations,
        invalidations: a.invalidations + b.invalidations,
        coalesced: a.coalesced + b.coalesced,
        key_errors: a.key_errors + b.key_errors,
        stale_served: a.stale_served + b.stale_served,
        refreshes: a.refreshes + b.refreshes,
        refresh_errors: a.refresh_errors + b.refresh_errors,
        shared_hits: a.shared_hits + b.shared_hits,
        shared_misses: a.shared_misses + b.shared_misses,
        shared_errors: a.shared_errors + b.shared_errors,
    }
}
