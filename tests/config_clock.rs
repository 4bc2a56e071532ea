//! `Config::clock`: every cache that chooses no clock of its own, memoized
//! functions' included, runs on the configured `ManualClock`, so their TTLs
//! are tested without sleeping. Its own process: the config is global, and
//! the steps run in order in one test.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::{AsyncCache, Config, ManualClock, cached, configure};

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60)]
async fn minute(n: u32) -> u32 {
    ASYNC_RUNS.fetch_add(1, SeqCst);
    n
}

static SYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 0.5)]
fn half_second(n: u32) -> u32 {
    SYNC_RUNS.fetch_add(1, SeqCst);
    n
}

/// Built with the defaults: the configured clock and TTL.
static DEFAULTS: LazyLock<AsyncCache> = LazyLock::new(AsyncCache::new);

#[cached(cache = DEFAULTS)]
async fn on_shared_defaults(n: u32) -> u32 {
    n
}

/// A cache that chooses its own clock keeps it.
static OWN_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static OWN: LazyLock<AsyncCache> = LazyLock::new(|| {
    AsyncCache::builder()
        .clock(OWN_CLOCK.clone())
        .build()
        .unwrap()
});

#[tokio::test]
async fn caches_without_a_clock_of_their_own_run_on_the_configured_one() {
    configure(
        Config::default()
            .default_ttl(Duration::from_secs(10))
            .clock(CLOCK.clone()),
    )
    .expect("first configure");

    // An async fn with its own TTL.
    minute(1).await;
    CLOCK.advance(Duration::from_secs(59));
    minute(1).await;
    assert_eq!(ASYNC_RUNS.load(SeqCst), 1, "59 s into a 60 s TTL: a hit");
    CLOCK.advance(Duration::from_secs(1));
    minute(1).await;
    assert_eq!(ASYNC_RUNS.load(SeqCst), 2, "at 60 s: expired");

    // A plain fn, with a fractional TTL.
    half_second(1);
    CLOCK.advance(Duration::from_millis(499));
    half_second(1);
    assert_eq!(SYNC_RUNS.load(SeqCst), 1);
    CLOCK.advance(Duration::from_millis(1));
    half_second(1);
    assert_eq!(SYNC_RUNS.load(SeqCst), 2);

    // A shared cache built from the defaults: the configured 10 s TTL.
    on_shared_defaults(1).await;
    CLOCK.advance(Duration::from_secs(9));
    on_shared_defaults(1).await;
    assert_eq!(DEFAULTS.stats().hits, 1);
    CLOCK.advance(Duration::from_secs(1));
    on_shared_defaults(1).await;
    assert_eq!((DEFAULTS.stats().hits, DEFAULTS.stats().misses), (1, 2));

    // A cache with a clock of its own does not see the configured one move.
    OWN.set("k", 1u32).await;
    CLOCK.advance(Duration::from_secs(3600));
    assert_eq!(OWN.get::<_, u32>("k").await, Some(1));
    OWN_CLOCK.advance(Duration::from_secs(10));
    assert_eq!(OWN.get::<_, u32>("k").await, None);
}
