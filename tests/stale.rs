//! Stale-if-error on the API: a value kept `stale` past its TTL stands in
//! for a reload that fails (an `Err` or a panic), for the caller and every
//! caller waiting on that reload; it is then served for `stale_retry`
//! before the body runs again, and never past `ttl + stale` after it was
//! stored. Every cache runs on its own manual clock: no sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::{AsyncCache, ManualClock};
use tokio::sync::{Barrier, Notify};

const TTL: Duration = Duration::from_secs(60);
const STALE: Duration = Duration::from_secs(600);
const RETRY: Duration = Duration::from_secs(5);

fn cache(clock: &ManualClock) -> AsyncCache {
    AsyncCache::builder()
        .default_ttl(TTL)
        .stale(STALE)
        .stale_retry(RETRY)
        .clock(clock.clone())
        .build()
        .expect("valid settings")
}

async fn failing(cache: &AsyncCache, runs: &AtomicUsize) -> Result<u32, &'static str> {
    cache
        .try_get_or_insert_with("rate", async {
            runs.fetch_add(1, SeqCst);
            Err("backend down")
        })
        .await
}

#[tokio::test]
async fn a_failed_reload_serves_the_kept_value_instead_of_the_error() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.set("rate", 7u32).await;
    clock.advance(TTL);
    assert_eq!(
        cache.get::<_, u32>("rate").await,
        None,
        "stale is not a hit"
    );
    let runs = AtomicUsize::new(0);
    assert_eq!(failing(&cache, &runs).await, Ok(7));
    assert_eq!(runs.load(SeqCst), 1, "the body was tried");
    assert_eq!(cache.stats().stale_served, 1);
}

#[tokio::test]
async fn a_successful_reload_replaces_the_kept_value() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.set("rate", 7u32).await;
    clock.advance(TTL);
    let fresh = cache
        .try_get_or_insert_with("rate", async { Ok::<u32, &str>(8) })
        .await;
    assert_eq!(fresh, Ok(8));
    assert_eq!(cache.get::<_, u32>("rate").await, Some(8));
    assert_eq!(cache.stats().stale_served, 0);
}

#[tokio::test]
async fn a_panicking_reload_serves_the_kept_value() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.set("rate", 7u32).await;
    clock.advance(TTL);
    let value = cache
        .get_or_insert_with("rate", async {
            if true {
                panic!("the client library panicked");
            }
            0u32
        })
        .await;
    assert_eq!(value, 7);
    assert_eq!(cache.stats().stale_served, 1);
}

#[tokio::test]
async fn a_panic_with_nothing_kept_goes_on() {
    let clock = ManualClock::new();
    let cache = Arc::new(cache(&clock));
    let task = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_insert_with("never stored", async {
                    if true {
                        panic!("nothing to fall back on");
                    }
                    0u32
                })
                .await
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    // The flight was abandoned, not left behind: the next call loads.
    assert_eq!(
        cache
            .get_or_insert_with("never stored", async { 3u32 })
            .await,
        3
    );
}

#[tokio::test]
async fn the_kept_value_is_served_for_stale_retry_before_the_body_runs_again() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.set("rate", 7u32).await;
    clock.advance(TTL);
    let runs = AtomicUsize::new(0);
    assert_eq!(failing(&cache, &runs).await, Ok(7));
    // Within the throttle: a hit on the kept value, the backend left alone.
    clock.advance(RETRY - Duration::from_nanos(1));
    assert_eq!(failing(&cache, &runs).await, Ok(7));
    assert_eq!(cache.get::<_, u32>("rate").await, Some(7));
    assert_eq!(runs.load(SeqCst), 1);
    // Throttle over: the body is tried again, fails, and the value stands in.
    clock.advance(Duration::from_nanos(1));
    assert_eq!(failing(&cache, &runs).await, Ok(7));
    assert_eq!(runs.load(SeqCst), 2);
    assert_eq!(
        cache.stats().stale_served,
        4,
        "two fallbacks, two throttled hits"
    );
}

#[tokio::test]
async fn past_ttl_plus_stale_the_failure_reaches_the_caller() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.set("rate", 7u32).await;
    let runs = AtomicUsize::new(0);
    // Failing reloads every throttle period do not extend the window...
    let mut elapsed = TTL;
    clock.advance(TTL);
    while elapsed + RETRY < TTL + STALE {
        assert_eq!(failing(&cache, &runs).await, Ok(7), "at {elapsed:?}");
        clock.advance(RETRY);
        elapsed += RETRY;
    }
    // ...which is counted from the store.
    clock.advance(TTL + STALE - elapsed);
    assert_eq!(failing(&cache, &runs).await, Err("backend down"));
}

#[tokio::test]
async fn without_stale_a_failure_reaches_the_caller() {
    let clock = ManualClock::new();
    let cache = AsyncCache::builder()
        .default_ttl(TTL)
        .clock(clock.clone())
        .build()
        .unwrap();
    cache.set("rate", 7u32).await;
    clock.advance(TTL);
    let runs = AtomicUsize::new(0);
    assert_eq!(failing(&cache, &runs).await, Err("backend down"));
    assert_eq!(cache.stats().stale_served, 0);
}

#[tokio::test]
async fn a_deleted_value_is_not_served_stale() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.set("rate", 7u32).await;
    clock.advance(TTL);
    assert!(cache.delete("rate").await);
    let runs = AtomicUsize::new(0);
    assert_eq!(failing(&cache, &runs).await, Err("backend down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caller_waiting_on_a_failed_reload_gets_the_kept_value() {
    let clock = ManualClock::new();
    let cache = Arc::new(cache(&clock));
    cache.set("rate", 7u32).await;
    clock.advance(TTL);
    let (runs, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let callers = 100;
    let barrier = Arc::new(Barrier::new(callers));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (cache, runs, release, barrier) = (
                cache.clone(),
                runs.clone(),
                release.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                cache
                    .try_get_or_insert_with("rate", async move {
                        runs.fetch_add(1, SeqCst);
                        release.notified().await;
                        Err::<u32, _>("backend down")
                    })
                    .await
            })
        })
        .collect();
    // Every caller has missed: one leads, the others wait on its flight.
    while cache.stats().misses < callers as u64 {
        tokio::task::yield_now().await;
    }
    release.notify_one();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Ok(7));
    }
    assert_eq!(runs.load(SeqCst), 1, "one reload for every caller");
    assert_eq!(cache.stats().stale_served, callers as u64);
}

#[tokio::test]
async fn a_cancelled_reload_leaves_the_kept_value_for_the_next_one() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.set("rate", 7u32).await;
    clock.advance(TTL);
    {
        let reload =
            cache.try_get_or_insert_with("rate", std::future::pending::<Result<u32, ()>>());
        // Polled once (it starts and waits), then dropped.
        assert!(tokio::time::timeout(Duration::ZERO, reload).await.is_err());
    }
    let runs = AtomicUsize::new(0);
    assert_eq!(failing(&cache, &runs).await, Ok(7));
    assert_eq!(runs.load(SeqCst), 1);
}

async fn alive(cache: &AsyncCache) -> usize {
    let mut alive = 0;
    for key in 0..1000u32 {
        alive += usize::from(cache.get::<_, u32>(&key).await.is_some());
    }
    alive
}

#[tokio::test]
async fn jitter_spreads_expiry_over_the_last_part_of_the_ttl() {
    let clock = ManualClock::new();
    let cache = AsyncCache::builder()
        .default_ttl(Duration::from_secs(100))
        .jitter(0.5)
        .max_size(2000)
        .clock(clock.clone())
        .build()
        .unwrap();
    for key in 0..1000u32 {
        cache.set(&key, key).await;
    }
    clock.advance(Duration::from_secs(50) - Duration::from_nanos(1));
    assert_eq!(alive(&cache).await, 1000, "none before ttl * (1 - jitter)");
    clock.advance(Duration::from_secs(25));
    let halfway = alive(&cache).await;
    assert!(
        (300..700).contains(&halfway),
        "{halfway} of 1000 alive at 75 s"
    );
    clock.advance(Duration::from_secs(25));
    assert_eq!(alive(&cache).await, 0, "none past the ttl");
}

#[tokio::test]
async fn set_with_ttl_stores_its_exact_ttl_despite_jitter() {
    let clock = ManualClock::new();
    let cache = AsyncCache::builder()
        .jitter(0.9)
        .clock(clock.clone())
        .build()
        .unwrap();
    for key in 0..100u32 {
        cache.set_with_ttl(&key, key, Duration::from_secs(10)).await;
    }
    clock.advance(Duration::from_secs(10) - Duration::from_nanos(1));
    for key in 0..100u32 {
        assert_eq!(cache.get::<_, u32>(&key).await, Some(key));
    }
}
