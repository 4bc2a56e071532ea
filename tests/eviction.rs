//! The size bound and the eviction order.

use memo_runtime::{AsyncCache, ConfigError, Eviction};

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
async fn the_oldest_entry_leaves_first() {
    let cache = fifo(3);
    for k in 0..4u32 {
        cache.set(&k, k).await;
        assert!(cache.len() <= 3);
    }
    assert_eq!(present(&cache, 0..4).await, vec![1, 2, 3]);
    assert_eq!(cache.stats().evictions, 1);
}

#[tokio::test]
async fn storing_a_key_again_moves_it_to_the_back() {
    let cache = fifo(3);
    for k in 0..3u32 {
        cache.set(&k, k).await;
    }
    cache.set(&0u32, 0u32).await; // 0 is now the newest
    cache.set(&3u32, 3u32).await; // so 1 leaves, not 0
    assert_eq!(present(&cache, 0..4).await, vec![0, 2, 3]);
    cache.set(&4u32, 4u32).await;
    assert_eq!(present(&cache, 0..5).await, vec![0, 3, 4]);
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
async fn deleted_entries_free_their_place() {
    let cache = fifo(2);
    cache.set(&1u32, 1u32).await;
    cache.set(&2u32, 2u32).await;
    assert!(cache.delete(&1u32).await);
    cache.set(&3u32, 3u32).await;
    assert_eq!(
        present(&cache, 1..4).await,
        vec![2, 3],
        "no eviction was needed"
    );
    assert_eq!(cache.stats().evictions, 0);
}

#[tokio::test]
async fn a_bound_of_one_keeps_the_newest() {
    let cache = fifo(1);
    cache.set("a", 1u8).await;
    cache.set("b", 2u8).await;
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.get::<_, u8>("a").await, None);
    assert_eq!(cache.get::<_, u8>("b").await, Some(2));
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
async fn zero_bounds_and_ttls_are_errors_that_say_what_to_change() {
    let err = AsyncCache::builder().max_size(0).build().unwrap_err();
    assert_eq!(err, ConfigError::ZeroMaxSize);
    assert!(err.to_string().contains("at least 1"), "{err}");
    let err = AsyncCache::builder()
        .default_ttl(std::time::Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroTtl);
    assert!(err.to_string().contains("longer than zero"), "{err}");
}
