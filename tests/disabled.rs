//! `Config::enabled(false)` turns caching off, for the attribute and the API
//! alike (its own process: the config is global).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::{AsyncCache, CacheStats, Config, cached, configure};

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn counted(n: u32) -> u32 {
    RUNS.fetch_add(1, SeqCst);
    n
}

static SYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn counted_sync(n: u32) -> u32 {
    SYNC_RUNS.fetch_add(1, SeqCst);
    n
}

#[tokio::test]
async fn disabled_caching_runs_every_body_and_stores_nothing_in_the_attribute_and_the_api() {
    configure(Config::default().enabled(false)).expect("first configure");

    // The attribute, async and sync.
    counted(1).await;
    counted(1).await;
    assert_eq!(RUNS.load(SeqCst), 2);
    assert!(counted::cache().is_empty());
    counted_sync(1);
    counted_sync(1);
    assert_eq!(SYNC_RUNS.load(SeqCst), 2);
    assert!(counted_sync::cache().is_empty());

    // The API: the same answer to the same question.
    let cache = AsyncCache::new();
    let api_runs = AtomicUsize::new(0);
    for _ in 0..2 {
        let loaded = cache
            .get_or_insert_with(&1u32, async {
                api_runs.fetch_add(1, SeqCst);
                1u32
            })
            .await;
        assert_eq!(loaded, 1);
    }
    assert_eq!(api_runs.load(SeqCst), 2, "init ran on every call");
    let loaded = cache
        .try_get_or_insert_with(&2u32, async { Ok::<_, ()>(2u32) })
        .await;
    assert_eq!(loaded, Ok(2));
    cache.set("k", 1u32).await;
    assert_eq!(cache.get::<_, u32>("k").await, None, "set stored nothing");
    assert!(cache.is_empty());

    // Neither side counted anything.
    assert_eq!(counted::stats(), CacheStats::default());
    assert_eq!(cache.stats(), CacheStats::default());
}
