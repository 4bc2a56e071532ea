//! What a cache stores and hands back: any `Clone` type, several types in one
//! cache, "empty" values as hits, and the counters.

use std::sync::LazyLock;

use memo_runtime::AsyncCache;

#[tokio::test]
async fn empty_values_are_hits_like_any_other() {
    let cache = AsyncCache::new();
    cache.set("none", None::<u32>).await;
    cache.set("zero", 0u64).await;
    cache.set("empty", String::new()).await;
    cache.set("unit", Ok::<(), String>(())).await;
    assert_eq!(cache.get::<_, Option<u32>>("none").await, Some(None));
    assert_eq!(cache.get::<_, u64>("zero").await, Some(0));
    assert_eq!(cache.get::<_, String>("empty").await, Some(String::new()));
    assert_eq!(
        cache.get::<_, Result<(), String>>("unit").await,
        Some(Ok(()))
    );
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (4, 0));
}

#[tokio::test]
async fn one_cache_holds_several_types_and_a_wrong_type_is_a_miss() {
    let cache = AsyncCache::new();
    cache.set("n", 7u32).await;
    cache.set("s", String::from("seven")).await;
    cache.set("v", vec![7u8]).await;
    assert_eq!(cache.get::<_, u32>("n").await, Some(7));
    assert_eq!(cache.get::<_, String>("s").await.as_deref(), Some("seven"));
    assert_eq!(cache.get::<_, Vec<u8>>("v").await, Some(vec![7]));
    // Asking for another type than was stored: None, never a panic.
    assert_eq!(cache.get::<_, u64>("n").await, None);
    assert_eq!(cache.get::<_, u32>("s").await, None);
    assert_eq!(cache.stats().misses, 2);
    // Storing another type under a key replaces the value.
    cache.set("n", "now a str").await;
    assert_eq!(cache.get::<_, &str>("n").await, Some("now a str"));
    assert_eq!(cache.get::<_, u32>("n").await, None);
}

#[tokio::test]
async fn delete_and_clear_say_what_they_removed() {
    let cache = AsyncCache::new();
    assert!(!cache.delete("missing").await);
    cache.set("a", 1).await;
    cache.set("b", 2).await;
    assert!(cache.delete("a").await);
    assert!(!cache.delete("a").await);
    assert_eq!(cache.len(), 1);
    cache.clear().await;
    assert!(cache.is_empty());
    assert_eq!(cache.get::<_, i32>("b").await, None);
    assert_eq!(
        cache.stats().invalidations,
        2,
        "one delete and one cleared entry"
    );
}

static SHARED: LazyLock<AsyncCache> = LazyLock::new(AsyncCache::new);

async fn remember(name: &str) {
    SHARED.set(&("name", name), name.len()).await;
}

async fn recall(name: &str) -> Option<usize> {
    SHARED.get(&("name", name)).await
}

#[tokio::test]
async fn a_static_cache_is_shared_between_functions() {
    remember("ada").await;
    assert_eq!(recall("ada").await, Some(3));
    assert_eq!(recall("grace").await, None);
}

#[tokio::test]
async fn statistics_count_every_event() {
    let cache = AsyncCache::builder().max_size(2).build().unwrap();
    cache.set("a", 1).await;
    cache.set("b", 2).await;
    cache.set("c", 3).await; // evicts "a"
    assert_eq!(cache.get::<_, i32>("a").await, None);
    assert_eq!(cache.get::<_, i32>("b").await, Some(2));
    assert_eq!(cache.get::<_, i32>("c").await, Some(3));
    assert!(cache.delete("c").await);
    let stats = cache.stats();
    assert_eq!(stats.inserts, 3);
    assert_eq!(stats.evictions, 1);
    assert_eq!((stats.hits, stats.misses), (2, 1));
    assert_eq!(stats.invalidations, 1);
    assert!((stats.hit_ratio() - 2.0 / 3.0).abs() < 1e-9);
}
