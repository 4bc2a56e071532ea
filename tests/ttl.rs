//! Entries expire their TTL after they were stored, on a monotonic clock.
//! Real time with wide margins: every wait is at least three times the TTL
//! it crosses, and every "still there" check comes well before it.

use std::time::Duration;

use memo_runtime::AsyncCache;

fn cache(ttl_ms: u64) -> AsyncCache {
    AsyncCache::builder()
        .default_ttl(Duration::from_millis(ttl_ms))
        .max_size(100)
        .build()
        .unwrap()
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test]
async fn an_entry_lives_its_ttl_and_is_never_returned_after() {
    let cache = cache(300);
    cache.set("k", 1u32).await;
    assert_eq!(cache.get::<_, u32>("k").await, Some(1));
    sleep_ms(900).await;
    assert_eq!(cache.get::<_, u32>("k").await, None);
    let stats = cache.stats();
    assert_eq!(
        stats.expirations, 1,
        "the expired entry was reclaimed on lookup"
    );
    assert!(cache.is_empty());
}

#[tokio::test]
async fn set_with_ttl_overrides_the_default() {
    let cache = cache(60_000);
    cache
        .set_with_ttl("short", 1u8, Duration::from_millis(200))
        .await;
    cache.set("long", 2u8).await;
    sleep_ms(600).await;
    assert_eq!(cache.get::<_, u8>("short").await, None);
    assert_eq!(cache.get::<_, u8>("long").await, Some(2));
}

#[tokio::test]
async fn a_zero_ttl_removes_the_entry() {
    let cache = cache(60_000);
    cache.set("k", 1u8).await;
    cache.set_with_ttl("k", 2u8, Duration::ZERO).await;
    assert_eq!(cache.get::<_, u8>("k").await, None);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn storing_again_restarts_the_ttl() {
    let cache = cache(1_000);
    cache.set("k", 1u8).await;
    sleep_ms(600).await;
    cache.set("k", 2u8).await;
    sleep_ms(600).await;
    // 1.2 s after the first store, 0.6 s after the second: alive.
    assert_eq!(cache.get::<_, u8>("k").await, Some(2));
    sleep_ms(1_500).await;
    assert_eq!(cache.get::<_, u8>("k").await, None);
}

#[tokio::test]
async fn cleanup_expired_removes_exactly_the_expired_entries() {
    let cache = cache(60_000);
    for k in 0..5u32 {
        cache.set_with_ttl(&k, k, Duration::from_millis(100)).await;
    }
    for k in 5..8u32 {
        cache.set(&k, k).await;
    }
    assert_eq!(cache.cleanup_expired().await, 0, "nothing has expired yet");
    sleep_ms(500).await;
    assert_eq!(cache.len(), 8, "expired entries stay until reclaimed");
    assert_eq!(cache.cleanup_expired().await, 5);
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.cleanup_expired().await, 0);
    assert_eq!(cache.stats().expirations, 5);
    for k in 5..8u32 {
        assert_eq!(cache.get::<_, u32>(&k).await, Some(k));
    }
}

#[tokio::test]
async fn huge_ttls_do_not_overflow() {
    let cache = cache(100);
    cache.set_with_ttl("forever", 1u8, Duration::MAX).await;
    assert_eq!(cache.get::<_, u8>("forever").await, Some(1));
}
