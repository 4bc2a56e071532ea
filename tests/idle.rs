//! Time-to-idle (`time_to_idle`, `#[cached(idle = ..)]`): an entry not hit
//! for `idle` expires; each hit pushes that back, never past the TTL. On
//! manual clocks.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::{AsyncCache, ManualClock, cached};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn hits_push_expiry_back_but_never_past_the_ttl() {
    let clock = ManualClock::new();
    let cache = AsyncCache::builder()
        .default_ttl(SECOND * 100)
        .time_to_idle(SECOND * 10)
        .clock(clock.clone())
        .build()
        .unwrap();
    cache.set("k", 1u8).await;
    // A hit every 9 s keeps it...
    for _ in 0..10 {
        clock.advance(SECOND * 9);
        assert_eq!(cache.get::<_, u8>("k").await, Some(1));
    }
    // ...until its TTL (stored at 0, now at 90 s).
    clock.advance(SECOND * 9);
    assert_eq!(cache.get::<_, u8>("k").await, Some(1), "99 s");
    clock.advance(SECOND);
    assert_eq!(cache.get::<_, u8>("k").await, None, "100 s: the TTL");
    // Idle for 10 s: gone, well within the TTL.
    cache.set("k", 2u8).await;
    clock.advance(SECOND * 10 - Duration::from_nanos(1));
    assert_eq!(cache.get::<_, u8>("k").await, Some(2));
    clock.advance(SECOND * 10);
    assert_eq!(cache.get::<_, u8>("k").await, None);
    assert_eq!(cache.stats().expirations, 2);
}

#[tokio::test]
async fn an_idle_entry_is_kept_for_stale_if_error() {
    let clock = ManualClock::new();
    let cache = AsyncCache::builder()
        .default_ttl(SECOND * 100)
        .time_to_idle(SECOND * 10)
        .stale(SECOND * 1000)
        .clock(clock.clone())
        .build()
        .unwrap();
    cache.set("k", 1u8).await;
    clock.advance(SECOND * 10);
    assert_eq!(cache.get::<_, u8>("k").await, None, "idle: not a hit");
    let fallback = cache
        .try_get_or_insert_with("k", async { Err::<u8, _>("down") })
        .await;
    assert_eq!(fallback, Ok(1), "kept for the stale window");
}

on_manual_clock!(CLOCK, SESSIONS);
static LOADS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 3600, idle = 600, cache = SESSIONS)]
fn session(user: u64) -> String {
    LOADS.fetch_add(1, SeqCst);
    format!("session of {user}")
}

#[test]
fn a_function_with_idle_reloads_what_was_not_used() {
    session(1);
    session(2);
    CLOCK.advance(SECOND * 500);
    session(1); // used: pushed back to 1100 s
    CLOCK.advance(SECOND * 500);
    session(1);
    session(2); // idle for 1000 s: reloaded
    assert_eq!(LOADS.load(SeqCst), 3);
}
