//! The size bound: `len()` never exceeds `max_size`, and with
//! `Eviction::Fifo` the oldest stored entry goes first when a new key would
//! pass it: exactly, in a cache bounded below 128 (one shard), and within
//! each shard in larger ones, which split the bound among their shards. The
//! default policy, S3-FIFO, is tested in `eviction_policies.rs`.

use std::time::Duration;

use memo_runtime::{AsyncCache, ConfigError, Eviction};

fn bounded(max_size: usize) -> AsyncCache {
    AsyncCache::builder()
        .max_size(max_size)
        .eviction(Eviction::Fifo)
        .default_ttl(Duration::from_secs(60))
        .build()
        .expect("valid settings")
}

/// The keys among `keys` that the cache still holds, in the order given.
async fn present(cache: &AsyncCache, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for key in keys {
        if cache.get::<_, u32>(*key).await.is_some() {
            out.push(key.to_string());
        }
    }
    out
}

#[tokio::test]
async fn the_oldest_entry_is_evicted_first() {
    let cache = bounded(3);
    for key in ["a", "b", "c", "d"] {
        cache.set(key, 0u32).await;
    }
    assert_eq!(
        present(&cache, &["a", "b", "c", "d"]).await,
        ["b", "c", "d"]
    );

    cache.set("e", 0u32).await;
    assert_eq!(
        present(&cache, &["a", "b", "c", "d", "e"]).await,
        ["c", "d", "e"]
    );
}

/// FIFO, not LRU: reading an entry does not save it from eviction.
#[tokio::test]
async fn a_hit_does_not_delay_eviction() {
    let cache = bounded(3);
    for key in ["a", "b", "c"] {
        cache.set(key, 0u32).await;
    }
    assert_eq!(cache.get::<_, u32>("a").await, Some(0));
    cache.set("d", 0u32).await;
    assert_eq!(cache.get::<_, u32>("a").await, None);
}

#[tokio::test]
async fn re_setting_a_key_moves_it_to_the_back() {
    let cache = bounded(3);
    for key in ["a", "b", "c"] {
        cache.set(key, 0u32).await;
    }
    cache.set("a", 1u32).await; // a is now the newest: order b, c, a
    assert_eq!(cache.len(), 3, "a re-set adds no entry");
    assert_eq!(cache.stats().evictions, 0, "a re-set evicts nothing");

    cache.set("d", 0u32).await;
    assert_eq!(
        present(&cache, &["a", "b", "c", "d"]).await,
        ["a", "c", "d"]
    );
    cache.set("e", 0u32).await;
    assert_eq!(
        present(&cache, &["a", "b", "c", "d", "e"]).await,
        ["a", "d", "e"]
    );
    // Only now, after everything stored before its re-set, does a go.
    cache.set("f", 0u32).await;
    assert_eq!(
        present(&cache, &["a", "b", "c", "d", "e", "f"]).await,
        ["d", "e", "f"]
    );
    assert_eq!(cache.get::<_, u32>("a").await, None);
}

#[tokio::test]
async fn deleting_an_entry_frees_its_slot() {
    let cache = bounded(3);
    for key in ["a", "b", "c"] {
        cache.set(key, 0u32).await;
    }
    assert!(cache.delete("b").await);
    cache.set("d", 0u32).await;
    assert_eq!(
        present(&cache, &["a", "b", "c", "d"]).await,
        ["a", "c", "d"]
    );
    assert_eq!(cache.stats().evictions, 0);
}

/// A FIFO cache bounded at `max_size`, given the keys `0..keys` in order,
/// with its length checked against the bound after each.
async fn filled_within_its_bound(max_size: usize, keys: u32) -> AsyncCache {
    let cache = bounded(max_size);
    for key in 0..keys {
        cache.set(&key, key).await;
        assert!(
            cache.len() <= max_size,
            "len {} after key {key}",
            cache.len()
        );
    }
    cache
}

/// A bound below 128 is one shard's: bound and order are exact.
#[tokio::test]
async fn len_never_exceeds_max_size_and_fifo_is_exact_in_a_small_cache() {
    const MAX: usize = 64;
    const KEYS: u32 = 1000;
    let cache = filled_within_its_bound(MAX, KEYS).await;
    assert_eq!(cache.len(), MAX);
    let survivors = KEYS - MAX as u32..KEYS;
    for key in 0..KEYS {
        let expected = survivors.contains(&key).then_some(key);
        assert_eq!(cache.get::<_, u32>(&key).await, expected, "key {key}");
    }
}

/// A larger bound is split among shards: never exceeded, nearly reached,
/// and the newest keys of every shard stay.
#[tokio::test]
async fn a_bound_split_among_shards_is_never_exceeded_and_keeps_the_newest() {
    const MAX: usize = 1000;
    const KEYS: u32 = 10_000;
    let cache = filled_within_its_bound(MAX, KEYS).await;
    // Each shard is full: at most a shard's share short of the bound in all
    // (in practice a few entries).
    assert!(cache.len() >= MAX * 9 / 10, "len {}", cache.len());
    let stats = cache.stats();
    assert_eq!(stats.inserts, u64::from(KEYS));
    assert_eq!(stats.evictions, stats.inserts - cache.len() as u64);
    // The last 50 keys spread over the shards, a few each, far fewer than
    // a shard holds.
    for key in KEYS - 50..KEYS {
        assert_eq!(cache.get::<_, u32>(&key).await, Some(key), "key {key}");
    }
    assert_eq!(cache.get::<_, u32>(&0).await, None, "the oldest stayed");
}

#[tokio::test]
async fn evictions_and_inserts_are_counted() {
    let cache = bounded(10);
    for key in 0..25u32 {
        cache.set(&key, key).await;
    }
    // Re-sets of present keys are inserts but evict nothing.
    for key in 20..25u32 {
        cache.set(&key, key + 1).await;
    }
    let stats = cache.stats();
    assert_eq!(stats.inserts, 30);
    assert_eq!(stats.evictions, 15);
    assert_eq!(stats.invalidations, 0, "eviction is not an invalidation");
}

#[tokio::test]
async fn max_size_one_keeps_only_the_latest_key() {
    let cache = bounded(1);
    cache.set("a", 1u32).await;
    cache.set("a", 2u32).await;
    assert_eq!(cache.get::<_, u32>("a").await, Some(2));
    assert_eq!(cache.stats().evictions, 0);

    cache.set("b", 3u32).await;
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.get::<_, u32>("a").await, None);
    assert_eq!(cache.get::<_, u32>("b").await, Some(3));
    assert_eq!(cache.stats().evictions, 1);
}

#[test]
fn zero_max_size_is_rejected_with_advice() {
    let err = AsyncCache::builder()
        .max_size(0)
        .default_ttl(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroMaxSize);
    let message = err.to_string();
    assert!(message.contains("max_size"), "names the setting: {message}");
    assert!(
        message.contains("at least 1"),
        "says what to set: {message}"
    );
}

#[test]
fn zero_ttl_is_rejected_with_advice() {
    let err = AsyncCache::builder()
        .max_size(10)
        .default_ttl(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroTtl);
    let message = err.to_string();
    assert!(message.contains("TTL"), "names the setting: {message}");
    assert!(
        message.contains("longer than zero"),
        "says what to set: {message}"
    );
}

#[test]
fn the_smallest_valid_settings_are_accepted() {
    let cache = AsyncCache::builder()
        .max_size(1)
        .default_ttl(Duration::from_nanos(1))
        .build()
        .expect("1 entry and 1 ns are valid");
    assert_eq!(cache.max_size(), 1);
    assert_eq!(cache.default_ttl(), Duration::from_nanos(1));
}
