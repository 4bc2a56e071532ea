//! The registry: `memo_runtime::caches()` lists every memoized function
//! from its first call, every cache built with a `.name(..)` and every
//! shared cache, with its length, bound and statistics; `report()` renders
//! it as a table.

use std::time::Duration;

use memo_runtime::{AsyncCache, CacheInfo, SharedCache, SharedTier, cached, caches, report};

mod billing {
    use memo_runtime::cached;

    #[cached(ttl = 60, max_size = 50)]
    pub fn invoice(id: u64) -> String {
        format!("invoice {id}")
    }

    #[cached]
    pub fn never_called(id: u64) -> u64 {
        id
    }

    #[cached(max_size = 70)]
    pub fn statement(id: u64) -> u64 {
        id
    }
}

struct Repo;

#[cached]
impl Repo {
    #[cached(ttl = 60)]
    async fn find(id: u32) -> u32 {
        id * 2
    }
}

fn listed(suffix: &str) -> Vec<CacheInfo> {
    caches()
        .into_iter()
        .filter(|cache| cache.name.ends_with(suffix))
        .collect()
}

#[test]
fn a_memoized_function_is_listed_from_its_first_call_under_its_path() {
    assert!(listed("billing::invoice").is_empty(), "not called yet");
    billing::invoice(1);
    billing::invoice(1);
    billing::invoice(2);
    let [info] = &listed("billing::invoice")[..] else {
        panic!("listed once: {:?}", caches());
    };
    assert_eq!((info.len, info.max_size), (2, 50));
    assert_eq!((info.stats.hits, info.stats.misses), (1, 2));
    assert_eq!(info.shared, None);
    assert!(listed("never_called").is_empty());
}

#[tokio::test]
async fn a_method_is_listed_under_its_type() {
    assert_eq!(Repo::find(4).await, 8);
    let found = listed("::find");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].name.contains("Repo"), "{}", found[0].name);
}

#[tokio::test]
async fn a_named_cache_is_listed_until_it_is_dropped() {
    let sessions = AsyncCache::builder()
        .name("sessions")
        .max_size(7)
        .build()
        .unwrap();
    sessions.set("a", 1u8).await;
    let info = caches().into_iter().find(|c| c.name == "sessions").unwrap();
    assert_eq!((info.len, info.max_size, info.stats.inserts), (1, 7, 1));
    drop(sessions);
    assert!(
        caches().iter().all(|c| c.name != "sessions"),
        "gone with it"
    );
}

#[tokio::test]
async fn a_shared_cache_is_listed_with_its_keys_in_redis() {
    // Nothing listens here: the cache works from memory, and is listed.
    let tier = SharedTier::builder("redis://127.0.0.1:1")
        .prefix("shop")
        .timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    let prices = SharedCache::builder("price", tier).build().unwrap();
    prices.get_or_insert_with("sku", async { 5u32 }).await;
    let info = caches().into_iter().find(|c| c.name == "price").unwrap();
    assert_eq!(info.shared.as_deref(), Some("shop:{price}:*"));
    assert_eq!(info.len, 1);
    assert!(info.stats.shared_errors > 0);
}

#[test]
fn the_report_has_a_header_and_a_row_per_cache() {
    billing::statement(9);
    let table = report();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("cache"));
    for column in ["entries", "max", "hits", "misses", "hit%", "loads"] {
        assert!(header.contains(column), "{header}");
    }
    let row = table
        .lines()
        .find(|line| line.contains("billing::statement"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" 70 "), "its bound: {row}");
    assert_eq!(row.len(), header.len(), "aligned:\n{table}");
}
