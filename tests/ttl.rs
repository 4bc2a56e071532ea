//! Time to live: entries are served until their TTL has passed since they were
//! stored, and never after.
//!
//! Each cache here runs on its own [`ManualClock`], so time passes exactly
//! when a test advances it: no real waiting, and deadlines are checked to the
//! nanosecond.

use std::time::Duration;

use memo_runtime::{AsyncCache, ManualClock};

const SHORT: Duration = Duration::from_millis(200);
const LONG: Duration = Duration::from_secs(60);
const NANO: Duration = Duration::from_nanos(1);

fn cache_with_ttl(ttl: Duration, clock: &ManualClock) -> AsyncCache {
    AsyncCache::builder()
        .default_ttl(ttl)
        .max_size(100)
        .clock(clock.clone())
        .build()
        .expect("valid settings")
}

#[tokio::test]
async fn entry_is_served_before_its_ttl_and_gone_after() {
    let clock = ManualClock::new();
    let cache = cache_with_ttl(SHORT, &clock);
    cache.set("k", 1u32).await;
    assert_eq!(cache.get::<_, u32>("k").await, Some(1));

    clock.advance(SHORT - NANO);
    assert_eq!(cache.get::<_, u32>("k").await, Some(1), "one ns before");
    clock.advance(NANO);
    assert_eq!(cache.get::<_, u32>("k").await, None, "at the deadline");
}

#[tokio::test]
async fn set_with_ttl_overrides_the_default_both_ways() {
    let clock = ManualClock::new();
    let short_default = cache_with_ttl(SHORT, &clock);
    short_default.set("default", 1u32).await;
    short_default.set_with_ttl("longer", 2u32, LONG).await;

    let long_default = cache_with_ttl(LONG, &clock);
    long_default.set("default", 3u32).await;
    long_default.set_with_ttl("shorter", 4u32, SHORT).await;

    clock.advance(SHORT);
    assert_eq!(short_default.get::<_, u32>("default").await, None);
    assert_eq!(short_default.get::<_, u32>("longer").await, Some(2));
    assert_eq!(long_default.get::<_, u32>("default").await, Some(3));
    assert_eq!(long_default.get::<_, u32>("shorter").await, None);
}

/// A TTL too large to add to the clock is capped, not an overflow panic.
#[tokio::test]
async fn the_largest_ttl_keeps_the_entry() {
    let clock = ManualClock::new();
    let cache = cache_with_ttl(Duration::MAX, &clock);
    cache.set("default", 1u32).await;
    cache.set_with_ttl("own", 2u32, Duration::MAX).await;
    clock.advance(Duration::from_secs(50 * 365 * 24 * 3600));
    assert_eq!(cache.get::<_, u32>("default").await, Some(1));
    assert_eq!(cache.get::<_, u32>("own").await, Some(2));
    assert_eq!(cache.cleanup_expired().await, 0);
}

#[tokio::test]
async fn zero_ttl_removes_the_entry_instead_of_storing_it() {
    let cache = cache_with_ttl(LONG, &ManualClock::new());
    cache.set("present", 1u32).await;
    cache.set_with_ttl("present", 2u32, Duration::ZERO).await;
    assert_eq!(cache.get::<_, u32>("present").await, None);

    // On an absent key it stores nothing either.
    cache.set_with_ttl("absent", 3u32, Duration::ZERO).await;
    assert_eq!(cache.get::<_, u32>("absent").await, None);
    assert!(cache.is_empty());
    assert_eq!(
        cache.stats().inserts,
        1,
        "only the first set stored a value"
    );
}

/// A re-set before expiry pushes the deadline out: the TTL counts from the
/// latest store.
#[tokio::test]
async fn re_set_before_expiry_restarts_the_ttl() {
    let clock = ManualClock::new();
    let cache = cache_with_ttl(SHORT, &clock);
    cache.set("k", 1u32).await;
    clock.advance(SHORT / 2);
    cache.set("k", 2u32).await;

    // Past the first deadline, before the second.
    clock.advance(SHORT * 3 / 4);
    assert_eq!(
        cache.get::<_, u32>("k").await,
        Some(2),
        "the re-set restarted the TTL"
    );
    clock.advance(SHORT / 4);
    assert_eq!(
        cache.get::<_, u32>("k").await,
        None,
        "at the second deadline"
    );
}

/// An entry that expired but was not yet reclaimed is still in the map; storing
/// the key again must give it a fresh deadline, not keep the old one.
#[tokio::test]
async fn re_set_of_an_expired_unreclaimed_entry_gets_a_fresh_ttl() {
    let clock = ManualClock::new();
    let cache = cache_with_ttl(SHORT, &clock);
    cache.set("k", 1u32).await;
    clock.advance(SHORT);
    assert_eq!(cache.len(), 1, "nothing has reclaimed it yet");

    cache.set("k", 2u32).await;
    clock.advance(SHORT - NANO);
    assert_eq!(cache.get::<_, u32>("k").await, Some(2));
}

#[tokio::test]
async fn expired_entries_are_never_returned_by_any_lookup() {
    let clock = ManualClock::new();
    let cache = cache_with_ttl(SHORT, &clock);
    cache.set("get", 1u32).await;
    cache.set("load", 1u32).await;
    cache.set("try_load", 1u32).await;
    clock.advance(SHORT);

    assert_eq!(cache.get::<_, u32>("get").await, None);
    // The loading paths must run their init rather than serve the stale value.
    let loaded = cache.get_or_insert_with("load", async { 2u32 }).await;
    assert_eq!(loaded, 2);
    let loaded = cache
        .try_get_or_insert_with("try_load", async { Ok::<_, ()>(3u32) })
        .await;
    assert_eq!(loaded, Ok(3));
}

#[tokio::test]
async fn cleanup_expired_removes_exactly_the_expired_entries() {
    let clock = ManualClock::new();
    let cache = cache_with_ttl(LONG, &clock);
    for key in ["a", "b", "c"] {
        cache.set_with_ttl(key, 0u32, SHORT).await;
    }
    cache.set("kept1", 1u32).await;
    cache.set("kept2", 2u32).await;
    assert_eq!(cache.cleanup_expired().await, 0, "nothing has expired yet");

    clock.advance(SHORT);
    // Expired entries still count in len until something reclaims them.
    assert_eq!(cache.len(), 5);
    assert_eq!(cache.cleanup_expired().await, 3);
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.cleanup_expired().await, 0, "a second pass finds none");

    assert_eq!(cache.get::<_, u32>("kept1").await, Some(1));
    assert_eq!(cache.get::<_, u32>("kept2").await, Some(2));
    let stats = cache.stats();
    assert_eq!(stats.expirations, 3);
    assert_eq!(stats.invalidations, 0, "expiry is not an invalidation");
}

#[tokio::test]
async fn a_lookup_reclaims_an_expired_entry_and_counts_it() {
    let clock = ManualClock::new();
    let cache = cache_with_ttl(SHORT, &clock);
    cache.set("k", 1u32).await;
    cache.set_with_ttl("other", 2u32, LONG).await;
    clock.advance(SHORT);

    assert_eq!(cache.get::<_, u32>("k").await, None);
    assert_eq!(cache.len(), 1, "the lookup removed the expired entry");
    let stats = cache.stats();
    assert_eq!(stats.expirations, 1);
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.hits, 0);
    // Already reclaimed, so cleanup has nothing left to do.
    assert_eq!(cache.cleanup_expired().await, 0);
}
