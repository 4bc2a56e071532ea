//! Refresh-ahead on the API (`refresh_after`, `get_or_refresh_with`): a
//! value older than `refresh` is returned at once while one reload per key
//! runs in the background. Reloads are held on a `Notify` so that the tests
//! see the due value being served while its reload is still running; every
//! cache runs on its own manual clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use memo_runtime::{AsyncCache, ManualClock};
use tokio::sync::Notify;

const TTL: Duration = Duration::from_secs(60);
const REFRESH: Duration = Duration::from_secs(50);
const PATIENCE: Duration = Duration::from_secs(10);

fn cache(clock: &ManualClock) -> Arc<AsyncCache> {
    Arc::new(
        AsyncCache::builder()
            .default_ttl(TTL)
            .refresh_after(REFRESH)
            .stale_retry(Duration::from_secs(5))
            .clock(clock.clone())
            .build()
            .expect("valid settings"),
    )
}

/// A reload that counts its runs and returns `value` once `gate` opens.
fn held(
    runs: &Arc<AtomicUsize>,
    gate: &Arc<Notify>,
    value: u32,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = u32> + Send>> + Send + 'static {
    let (runs, gate) = (runs.clone(), gate.clone());
    move || {
        Box::pin(async move {
            runs.fetch_add(1, SeqCst);
            gate.notified().await;
            value
        })
    }
}

async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting: {what}");
        tokio::task::yield_now().await;
    }
}

async fn value_of(cache: &AsyncCache) -> Option<u32> {
    cache.get::<_, u32>("k").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_value_is_returned_at_once_and_replaced_when_its_reload_lands() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    assert_eq!(cache.get_or_refresh_with("k", || async { 1u32 }).await, 1);
    // Before `refresh`: a plain hit, the factory is not called.
    clock.advance(REFRESH - Duration::from_nanos(1));
    assert_eq!(cache.get_or_refresh_with("k", || async { 99u32 }).await, 1);
    assert_eq!(cache.stats().refreshes, 0);

    clock.advance(Duration::from_nanos(1));
    let (runs, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    // The reload is held, yet the caller gets the old value.
    assert_eq!(
        cache.get_or_refresh_with("k", held(&runs, &gate, 2)).await,
        1
    );
    eventually("the reload started", || runs.load(SeqCst) == 1).await;
    assert_eq!(value_of(&cache).await, Some(1), "served while it reloads");
    gate.notify_one();
    let started = Instant::now();
    while value_of(&cache).await != Some(2) {
        assert!(started.elapsed() < PATIENCE, "the reload never landed");
        tokio::task::yield_now().await;
    }
    let stats = cache.stats();
    assert_eq!((stats.refreshes, stats.refresh_errors), (1, 0));
    // The new value is fresh again for `refresh`.
    clock.advance(REFRESH - Duration::from_nanos(1));
    assert_eq!(cache.get_or_refresh_with("k", || async { 3u32 }).await, 2);
    assert_eq!(cache.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_callers_of_a_due_key_start_one_reload_and_none_waits() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.get_or_refresh_with("k", || async { 1u32 }).await;
    clock.advance(REFRESH);
    let (runs, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let (cache, reload) = (cache.clone(), held(&runs, &gate, 2));
            tokio::spawn(async move { cache.get_or_refresh_with("k", reload).await })
        })
        .collect();
    // All of them return while the one reload is still held.
    for caller in callers {
        assert_eq!(caller.await.unwrap(), 1);
    }
    eventually("the reload started", || runs.load(SeqCst) == 1).await;
    gate.notify_one();
    eventually("the reload landed", || cache.loads_in_flight() == 0).await;
    assert_eq!(value_of(&cache).await, Some(2));
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(cache.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reload_keeps_the_old_value_and_is_retried_after_stale_retry() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.get_or_refresh_with("k", || async { 1u32 }).await;
    clock.advance(REFRESH);
    let failing = || async { Err::<u32, &str>("backend down") };
    assert_eq!(cache.try_get_or_refresh_with("k", failing).await, Ok(1));
    eventually("the reload failed", || cache.stats().refresh_errors == 1).await;
    // Still served, and not reloaded again on every hit...
    clock.advance(Duration::from_secs(4));
    assert_eq!(cache.try_get_or_refresh_with("k", failing).await, Ok(1));
    assert_eq!(cache.stats().refreshes, 1);
    // ...but after `stale_retry`.
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.try_get_or_refresh_with("k", failing).await, Ok(1));
    eventually("the second reload failed", || {
        cache.stats().refresh_errors == 2
    })
    .await;
    assert_eq!(cache.stats().refreshes, 2);
    // At `ttl` the value expires: the caller's own load fails.
    clock.advance(TTL);
    assert_eq!(
        cache.try_get_or_refresh_with("k", failing).await,
        Err("backend down")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_reload_keeps_the_old_value() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.get_or_refresh_with("k", || async { 1u32 }).await;
    clock.advance(REFRESH);
    let panicking = || async {
        if true {
            panic!("the client library panicked");
        }
        2u32
    };
    assert_eq!(cache.get_or_refresh_with("k", panicking).await, 1);
    eventually("the reload failed", || cache.stats().refresh_errors == 1).await;
    assert_eq!(value_of(&cache).await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_during_a_reload_keeps_the_reloaded_value_out() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    cache.get_or_refresh_with("k", || async { 1u32 }).await;
    clock.advance(REFRESH);
    let (runs, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    assert_eq!(
        cache.get_or_refresh_with("k", held(&runs, &gate, 2)).await,
        1
    );
    eventually("the reload started", || runs.load(SeqCst) == 1).await;
    assert!(cache.delete("k").await);
    gate.notify_one();
    eventually("the reload ended", || cache.loads_in_flight() == 0).await;
    assert_eq!(
        value_of(&cache).await,
        None,
        "the reloaded 2 was doomed by the delete"
    );
    assert_eq!(cache.stats().inserts, 1);
}

#[tokio::test]
async fn without_refresh_after_it_loads_as_get_or_insert_with_does() {
    let clock = ManualClock::new();
    let cache = Arc::new(
        AsyncCache::builder()
            .default_ttl(TTL)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    assert_eq!(cache.get_or_refresh_with("k", || async { 1u32 }).await, 1);
    clock.advance(TTL - Duration::from_nanos(1));
    assert_eq!(cache.get_or_refresh_with("k", || async { 2u32 }).await, 1);
    clock.advance(Duration::from_nanos(1));
    assert_eq!(cache.get_or_refresh_with("k", || async { 2u32 }).await, 2);
    assert_eq!(cache.stats().refreshes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_timeout_answers_a_slow_reload_with_the_kept_value() {
    let clock = ManualClock::new();
    let cache = Arc::new(
        AsyncCache::builder()
            .default_ttl(TTL)
            .stale(TTL * 10)
            .soft_timeout(Duration::from_millis(200))
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    cache.get_or_refresh_with("k", || async { 1u32 }).await;
    clock.advance(TTL);
    let (runs, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    // The reload is held: after the soft timeout, the kept value.
    assert_eq!(
        cache.get_or_refresh_with("k", held(&runs, &gate, 2)).await,
        1
    );
    assert_eq!(cache.stats().stale_served, 1);
    // Another caller meanwhile: the kept value at once, no second reload.
    assert_eq!(
        cache.get_or_refresh_with("k", held(&runs, &gate, 3)).await,
        1
    );
    assert_eq!(runs.load(SeqCst), 1);
    gate.notify_one();
    eventually("the reload landed", || cache.loads_in_flight() == 0).await;
    assert_eq!(value_of(&cache).await, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_waiting_on_a_failed_refresh_get_the_kept_value() {
    let clock = ManualClock::new();
    let cache = Arc::new(
        AsyncCache::builder()
            .default_ttl(TTL)
            .refresh_after(REFRESH)
            .stale(TTL * 10)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    cache.get_or_refresh_with("k", || async { 1u32 }).await;
    clock.advance(REFRESH);
    let gate = Arc::new(Notify::new());
    let failing = {
        let gate = gate.clone();
        move || async move {
            gate.notified().await;
            Err::<u32, &str>("backend down")
        }
    };
    assert_eq!(cache.try_get_or_refresh_with("k", failing).await, Ok(1));
    eventually("the reload started", || cache.loads_in_flight() == 1).await;
    // The slow reload outlives the TTL: a caller now misses and waits on it.
    clock.advance(TTL);
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .try_get_or_insert_with("k", async { Err::<u32, &str>("its own load failed") })
                .await
        })
    };
    eventually("the caller waits", || cache.waiters_in_flight() == 1).await;
    gate.notify_one();
    assert_eq!(
        waiter.await.unwrap(),
        Ok(1),
        "the kept value, not a failure"
    );
    assert_eq!(cache.stats().refresh_errors, 1);
}

#[test]
fn a_reload_cancelled_with_its_runtime_leaves_the_key_to_the_next_one() {
    let clock = ManualClock::new();
    let cache = cache(&clock);
    let (runs, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    first.block_on(async {
        cache.get_or_refresh_with("k", || async { 1u32 }).await;
        clock.advance(REFRESH);
        let due = cache.get_or_refresh_with("k", held(&runs, &gate, 2)).await;
        assert_eq!(due, 1);
        eventually("the reload started", || runs.load(SeqCst) == 1).await;
    });
    // The held reload's task is dropped with its runtime.
    drop(first);
    assert_eq!(cache.loads_in_flight(), 0, "the cancelled reload let go");
    runtime().block_on(async {
        // Still due: the next caller starts a reload of its own.
        let due = cache.get_or_refresh_with("k", held(&runs, &gate, 3)).await;
        assert_eq!(due, 1);
        eventually("a new reload started", || runs.load(SeqCst) == 2).await;
        gate.notify_one();
        let started = Instant::now();
        while value_of(&cache).await != Some(3) {
            assert!(started.elapsed() < PATIENCE, "the reload never landed");
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(cache.stats().refreshes, 2);
}
