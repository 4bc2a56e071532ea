//! Eviction order across shards, and the S3-FIFO policy.

use memo_runtime::{AsyncCache, Eviction};

fn fifo(max_size: usize) -> AsyncCache {
    AsyncCache::builder().max_size(max_size).build().unwrap()
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
