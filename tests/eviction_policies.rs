//! Eviction order across shards, and the S3-FIFO policy.

use memo_runtime::{AsyncCache, Eviction};

fn fifo(max_size: usize) -> AsyncCache {
    AsyncCache::builder()
        .max_size(max_size)
        .eviction(Eviction::Fifo)
        .build()
        .unwrap()
}

async fn present(cache: &AsyncCache, keys: std::ops::Range<u32>) -> Vec<u32> {
    let mut found = Vec::new();
    for k in keys {
        if cache.get::<_, u32>(&k).await.is_some() {
            found.push(k);
        }
    }
    found
}

#[tokio::test]
async fn fifo_order_is_exact_across_shards() {
    // Many keys land in different shards; the order is still global.
    let cache = fifo(50);
    for k in 0..200u32 {
        cache.set(&k, k).await;
    }
    assert_eq!(
        present(&cache, 0..200).await,
        (150..200).collect::<Vec<_>>()
    );
    assert_eq!(cache.stats().evictions, 150);
}

#[tokio::test]
async fn s3_fifo_keeps_entries_that_are_hit() {
    let cache = AsyncCache::builder()
        .max_size(100)
        .eviction(Eviction::S3Fifo)
        .build()
        .unwrap();
    // A hot set of 20 keys, hit between every burst of one-off keys.
    for round in 0..50u32 {
        for hot in 0..20u32 {
            cache.get_or_insert_with(&hot, async move { hot }).await;
        }
        for cold in 0..20u32 {
            let key = 1_000 + round * 20 + cold;
            cache.set(&key, key).await;
            assert!(cache.len() <= 100);
        }
    }
    // Under FIFO the hot keys would be pushed out by the one-off keys every
    // round; under S3-FIFO they stay.
    assert_eq!(present(&cache, 0..20).await.len(), 20);
}

#[tokio::test]
async fn a_cache_that_chooses_nothing_keeps_its_hot_keys_through_a_scan() {
    // The default policy: what a user who never touches `eviction` gets.
    let cache = AsyncCache::builder().max_size(100).build().unwrap();
    assert_eq!(cache.eviction(), Eviction::S3Fifo);
    for hot in 0..20u32 {
        cache.set(&hot, hot).await;
        let _ = cache.get::<_, u32>(&hot).await;
    }
    // A scan of 1,000 keys that never come again.
    for cold in 1_000..2_000u32 {
        cache.set(&cold, cold).await;
    }
    assert_eq!(present(&cache, 0..20).await.len(), 20, "the scan went by");
    let fifo = fifo(100);
    for key in (0..20u32).chain(1_000..2_000) {
        fifo.set(&key, key).await;
    }
    assert!(
        present(&fifo, 0..20).await.is_empty(),
        "FIFO lets it flush them"
    );
}
