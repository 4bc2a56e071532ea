//! Time to live: entries are served until their TTL has passed since they were
//! stored, and never after.
//!
//! The cache runs on a real monotonic clock (tokio's paused time does not move
//! it), so these tests sleep for real. Every wait is at least three times the
//! gap it has to clear, so a busy machine does not make them flaky.

use std::time::{Duration, Instant};

use memo_runtime::AsyncCache;

const SHORT: Duration = Duration::from_millis(200);
/// Three times `SHORT`: long enough that a `SHORT` entry has surely expired.
const PAST_SHORT: Duration = Duration::from_millis(600);
const LONG: Duration = Duration::from_secs(60);

fn cache_with_ttl(ttl: Duration) -> AsyncCache {
    AsyncCache::builder()
        .default_ttl(ttl)
        .max_size(100)
        .build()
        .expect("valid settings")
}

#[tokio::test]
async fn entry_is_served_before_its_ttl_and_gone_after() {
    let cache = cache_with_ttl(SHORT);
    cache.set("k", 1u32).await;
    assert_eq!(cache.get::<_, u32>("k").await, Some(1));

    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(cache.get::<_, u32>("k").await, None);
}

#[tokio::test]
async fn set_with_ttl_overrides_the_default_both_ways() {
    let short_default = cache_with_ttl(SHORT);
    short_default.set("default", 1u32).await;
    short_default.set_with_ttl("longer", 2u32, LONG).await;

    let long_default = cache_with_ttl(LONG);
    long_default.set("default", 3u32).await;
    long_default.set_with_ttl("shorter", 4u32, SHORT).await;

    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(short_default.get::<_, u32>("default").await, None);
    assert_eq!(short_default.get::<_, u32>("longer").await, Some(2));
    assert_eq!(long_default.get::<_, u32>("default").await, Some(3));
    assert_eq!(long_default.get::<_, u32>("shorter").await, None);
}

/// A TTL too large to add to the clock is capped, not an overflow panic.
#[tokio::test]
async fn the_largest_ttl_keeps_the_entry() {
    let cache = cache_with_ttl(Duration::MAX);
    cache.set("default", 1u32).await;
    cache.set_with_ttl("own", 2u32, Duration::MAX).await;
    assert_eq!(cache.get::<_, u32>("default").await, Some(1));
    assert_eq!(cache.get::<_, u32>("own").await, Some(2));
    assert_eq!(cache.cleanup_expired().await, 0);
}

#[tokio::test]
async fn zero_ttl_removes_the_entry_instead_of_storing_it() {
    let cache = cache_with_ttl(LONG);
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
/// latest store. Timing is measured rather than assumed; a run whose sleeps
/// overshot the window is retried, and the test fails if none fit.
#[tokio::test]
async fn re_set_before_expiry_restarts_the_ttl() {
    let ttl = Duration::from_millis(900);
    for _attempt in 0..5 {
        let cache = cache_with_ttl(ttl);
        let start = Instant::now();
        cache.set("k", 1u32).await;
        let first_stored_by = start.elapsed();

        tokio::time::sleep(ttl / 2).await;
        let re_set_from = start.elapsed();
        cache.set("k", 2u32).await;

        // Between the first deadline (~900 ms) and the second (~1350 ms).
        tokio::time::sleep(ttl * 3 / 4).await;
        let looked_from = start.elapsed();
        let got = cache.get::<_, u32>("k").await;
        let looked_by = start.elapsed();

        let first_deadline_passed = looked_from > first_stored_by + ttl;
        let second_deadline_ahead = looked_by < re_set_from + ttl;
        if first_deadline_passed && second_deadline_ahead {
            assert_eq!(got, Some(2), "the re-set should have restarted the TTL");
            return;
        }
    }
    panic!("the machine was too slow to fit the timing window in 5 attempts");
}

/// An entry that expired but was not yet reclaimed is still in the map; storing
/// the key again must give it a fresh deadline, not keep the old one.
#[tokio::test]
async fn re_set_of_an_expired_unreclaimed_entry_gets_a_fresh_ttl() {
    let cache = cache_with_ttl(SHORT);
    cache.set("k", 1u32).await;
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(cache.len(), 1, "nothing has reclaimed it yet");

    cache.set("k", 2u32).await;
    assert_eq!(cache.get::<_, u32>("k").await, Some(2));
}

#[tokio::test]
async fn expired_entries_are_never_returned_by_any_lookup() {
    let cache = cache_with_ttl(SHORT);
    cache.set("get", 1u32).await;
    cache.set("load", 1u32).await;
    cache.set("try_load", 1u32).await;
    tokio::time::sleep(PAST_SHORT).await;

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
    let cache = cache_with_ttl(LONG);
    for key in ["a", "b", "c"] {
        cache.set_with_ttl(key, 0u32, SHORT).await;
    }
    cache.set("kept1", 1u32).await;
    cache.set("kept2", 2u32).await;
    assert_eq!(cache.cleanup_expired().await, 0, "nothing has expired yet");

    tokio::time::sleep(PAST_SHORT).await;
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
    let cache = cache_with_ttl(SHORT);
    cache.set("k", 1u32).await;
    cache.set_with_ttl("other", 2u32, LONG).await;
    tokio::time::sleep(PAST_SHORT).await;

    assert_eq!(cache.get::<_, u32>("k").await, None);
    assert_eq!(cache.len(), 1, "the lookup removed the expired entry");
    let stats = cache.stats();
    assert_eq!(stats.expirations, 1);
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.hits, 0);
    // Already reclaimed, so cleanup has nothing left to do.
    assert_eq!(cache.cleanup_expired().await, 0);
}
