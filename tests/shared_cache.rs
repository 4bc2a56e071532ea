//! Several memoized functions in one shared `AsyncCache`.

use std::sync::LazyLock;
use std::time::Duration;

use memo_runtime::{AsyncCache, ManualClock, cached};

static SHARED: LazyLock<AsyncCache> = LazyLock::new(|| {
    AsyncCache::builder()
        .default_ttl(Duration::from_secs(60))
        .max_size(100)
        .build()
        .expect("valid settings")
});

mod users {
    use super::SHARED;
    use memo_runtime::cached;

    /// Same name and argument as `orders::lookup`.
    #[cached(cache = SHARED)]
    pub async fn lookup(id: u32) -> String {
        format!("user {id}")
    }
}

mod orders {
    use memo_runtime::cached;

    #[cached(cache = crate::SHARED, ttl = 0.2)]
    pub async fn lookup(id: u32) -> String {
        format!("order {id}")
    }
}

#[cached(cache = SHARED)]
async fn total(id: u32) -> u64 {
    u64::from(id) * 100
}

#[tokio::test]
async fn functions_sharing_a_cache_never_see_each_others_values() {
    assert_eq!(users::lookup(1).await, "user 1");
    assert_eq!(orders::lookup(1).await, "order 1");
    assert_eq!(users::lookup(1).await, "user 1");
    assert_eq!(orders::lookup(1).await, "order 1");
    assert_eq!(total(1).await, 100);
    assert!(std::ptr::eq(users::lookup::cache(), &*SHARED));
    assert_ne!(users::lookup::key(1), orders::lookup::key(1));

    // clear() removes one function's entries only.
    let before = SHARED.len();
    orders::lookup::clear().await;
    assert_eq!(SHARED.len(), before - 1);
    assert_eq!(users::lookup(1).await, "user 1");
    assert!(users::lookup::invalidate(1).await);
    assert!(total::invalidate(1).await);
}

/// A second shared cache, so this file's tests do not share counters, on a
/// clock the test advances.
static MINUTE_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static MINUTE: LazyLock<AsyncCache> = LazyLock::new(|| {
    AsyncCache::builder()
        .default_ttl(Duration::from_secs(60))
        .clock(MINUTE_CLOCK.clone())
        .build()
        .expect("valid settings")
});

#[cached(cache = MINUTE)]
async fn defaulted(id: u32) -> u32 {
    id
}

#[cached(cache = MINUTE, ttl = 0.2)]
async fn short(id: u32) -> u32 {
    id
}

#[tokio::test]
async fn without_ttl_the_shared_cache_default_applies() {
    // `defaulted` sets no ttl, so its entry lives the shared cache's 60 s
    // (not the global 300 s default, not zero); `short` sets 0.2 s.
    defaulted(5).await;
    short(9).await;
    MINUTE_CLOCK.advance(Duration::from_secs(59));
    let hits = MINUTE.stats().hits;
    defaulted(5).await;
    assert_eq!(MINUTE.stats().hits, hits + 1, "60 s TTL: still cached");
    let misses = MINUTE.stats().misses;
    short(9).await;
    assert_eq!(MINUTE.stats().misses, misses + 1, "0.2 s TTL: expired");
}
