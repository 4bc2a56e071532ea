//! Every named cache of the process, for a debug endpoint or an exporter:
//! memoized functions (from their first call), caches built with
//! [`AsyncCacheBuilder::name`](crate::AsyncCacheBuilder::name), and every
//! `SharedCache` (feature `redis`).
//!
//! The registry holds weak handles on each cache's counters: a cache that is
//! dropped leaves it, and reading it takes no lock a hit takes.

use std::fmt::Write as _;
use std::sync::Arc;

use parking_lot::Mutex;

use super::CacheStats;
use crate::local::Gauge;

/// One cache as [`caches`] saw it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CacheInfo {
    /// A memoized function's path (`billing::invoice`, after its crate's
    /// name), or the name its builder gave.
    pub name: String,
    /// Entries in memory now.
    pub len: usize,
    /// The most entries it keeps in memory.
    pub max_size: usize,
    /// Its counters, as [`AsyncCache::stats`](crate::AsyncCache::stats)
    /// tells them.
    pub stats: CacheStats,
    /// For a cache in front of the shared tier, the pattern of its keys in
    /// Redis (`prefix:{name}:*`, for `SCAN` or `redis-cli --scan`).
    pub shared: Option<String>,
}

struct Registered {
    name: Arc<str>,
    shared: Option<Arc<str>>,
    gauge: Gauge,
}

static REGISTRY: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// Adds a cache to the registry under `name`.
pub(crate) fn register(name: Arc<str>, shared: Option<Arc<str>>, gauge: Gauge) {
    let mut registry = REGISTRY.lock();
    registry.retain(|cache| cache.gauge.is_alive());
    registry.push(Registered {
        name,
        shared,
        gauge,
    });
}

/// A snapshot of every named cache alive in the process, in the order they
/// were made: memoized functions from their first call, caches built with a
/// `.name(..)`, and every shared cache.
///
/// ```
/// use memo_runtime::{cached, caches};
///
/// #[cached(ttl = 60)]
/// fn invoice(id: u64) -> String {
///     format!("invoice {id}")
/// }
///
/// invoice(7);
/// invoice(7);
/// let info = caches()
///     .into_iter()
///     .find(|cache| cache.name.ends_with("::invoice"))
///     .expect("registered on its first call");
/// assert_eq!((info.len, info.stats.hits, info.stats.misses), (1, 1, 1));
/// ```
pub fn caches() -> Vec<CacheInfo> {
    // Read outside the lock: a snapshot of the handles first.
    let handles: Vec<(Arc<str>, Option<Arc<str>>, Gauge)> = {
        let mut registry = REGISTRY.lock();
        registry.retain(|cache| cache.gauge.is_alive());
        registry
            .iter()
            .map(|cache| {
                (
                    cache.name.clone(),
                    cache.shared.clone(),
                    cache.gauge.clone(),
                )
            })
            .collect()
    };
    handles
        .into_iter()
        .filter_map(|(name, shared, gauge)| {
            let (len, max_size, stats) = gauge.read()?;
            Some(CacheInfo {
                name: name.to_string(),
                len,
                max_size,
                stats,
                shared: shared.map(|shared| shared.to_string()),
            })
        })
        .collect()
}

/// [`caches`] as a text table, one line per cache, for a debug endpoint:
/// entries and bound, hits, misses and hit ratio, loads (misses that ran a
/// body), evictions, stale values served, background refreshes and their
/// errors, and the shared tier's hits and errors.
///
/// ```
/// use memo_runtime::{cached, report};
///
/// #[cached]
/// fn price(sku: u32) -> u64 {
///     u64::from(sku) * 10
/// }
///
/// price(1);
/// let table = report();
/// assert!(table.starts_with("cache"));
/// assert!(table.lines().any(|line| line.contains("::price")));
/// ```
pub fn report() -> String {
    render(&caches())
}

const COLUMNS: [&str; 12] = [
    "entries",
    "max",
    "hits",
    "misses",
    "hit%",
    "loads",
    "evicted",
    "stale",
    "refreshes",
    "refresh_err",
    "shared_hits",
    "shared_err",
];

fn render(caches: &[CacheInfo]) -> String {
    let rows: Vec<(String, [String; 12])> = caches
        .iter()
        .map(|cache| {
            let stats = &cache.stats;
            let name = match &cache.shared {
                Some(shared) => format!("{} (shared as {shared})", cache.name),
                None => cache.name.clone(),
            };
            let cells = [
                cache.len.to_string(),
                cache.max_size.to_string(),
                stats.hits.to_string(),
                stats.misses.to_string(),
                format!("{:.1}", stats.hit_ratio() * 100.0),
                stats.misses.saturating_sub(stats.coalesced).to_string(),
                stats.evictions.to_string(),
                stats.stale_served.to_string(),
                stats.refreshes.to_string(),
                stats.refresh_errors.to_string(),
                stats.shared_hits.to_string(),
                stats.shared_errors.to_string(),
            ];
            (name, cells)
        })
        .collect();
    let name_width = rows
        .iter()
        .map(|(name, _)| name.len())
        .chain(["cache".len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(column, title)| {
            rows.iter()
                .map(|(_, cells)| cells[column].len())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |name: &str, cells: &mut dyn Iterator<Item = &str>| {
        let _ = write!(out, "{name:<name_width$}");
        for (cell, width) in cells.zip(&widths) {
            let _ = write!(out, "  {cell:>width$}");
        }
        out.push('\n');
    };
    line("cache", &mut COLUMNS.iter().copied());
    for (name, cells) in &rows {
        line(name, &mut cells.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_cache_with_aligned_columns() {
        let info = |name: &str, shared: Option<&str>, hits| CacheInfo {
            name: name.into(),
            len: 3,
            max_size: 10_000,
            stats: CacheStats {
                hits,
                misses: 1,
                ..CacheStats::default()
            },
            shared: shared.map(Into::into),
        };
        let table = render(&[
            info("billing::invoice", None, 3),
            info("users", Some("memo:{users}"), 12_345),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("cache "));
        assert!(lines[1].starts_with("billing::invoice "));
        assert!(lines[2].starts_with("users (shared as memo:{users})"));
        // Right-aligned columns: every line is as long as the header.
        assert!(
            lines.iter().all(|line| line.len() == lines[0].len()),
            "{table}"
        );
        assert!(lines[1].contains(" 75.0 "), "3 hits of 4: {table}");
        assert!(lines[2].contains(" 12345 "), "{table}");
    }
}
