//! Freshness through the shared tier, against a real `redis-server`:
//! refresh-ahead across replicas (one replica at a time reloads a key,
//! under its Redis lock, and its `set` reaches every replica), memory
//! copies due by the age of the value in Redis, a failed refresh, and soft
//! timeouts. Each replica is a `SharedTier` of its own with a manual clock
//! of its own; reloads are held on a `Notify`.

#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use memo_runtime::{ManualClock, SharedCache, SharedTier};
use redis::Commands;
use redis_server::RedisServer;
use tokio::sync::Notify;

const TTL: Duration = Duration::from_secs(60);
const REFRESH: Duration = Duration::from_secs(50);
/// Far above anything a healthy loopback Redis needs.
const PATIENCE: Duration = Duration::from_secs(10);

async fn tier(server: &RedisServer) -> SharedTier {
    let tier = SharedTier::builder(&server.url())
        .prefix("test")
        .timeout(Duration::from_millis(500))
        .lock_lease(Duration::from_secs(30))
        .build()
        .expect("a valid URL");
    assert!(tier.wait_available(PATIENCE).await, "the tier came up");
    tier
}

fn replica(tier: &SharedTier, clock: &ManualClock) -> SharedCache {
    SharedCache::builder("rates", tier.clone())
        .default_ttl(TTL)
        .refresh_after(REFRESH)
        .stale_retry(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .expect("valid settings")
}

/// A replica that keeps values an hour past their TTL and waits 50 ms for
/// a reload before it answers with the kept value.
fn with_soft_timeout(tier: &SharedTier, clock: &ManualClock) -> SharedCache {
    SharedCache::builder("rates", tier.clone())
        .default_ttl(TTL)
        .stale(Duration::from_secs(3600))
        .soft_timeout(Duration::from_millis(50))
        .clock(clock.clone())
        .build()
        .expect("valid settings")
}

type Reload = std::pin::Pin<Box<dyn Future<Output = Result<u32, String>> + Send>>;

/// A reload that counts its runs and, once `gate` opens, returns `value`.
fn held(
    runs: &Arc<AtomicUsize>,
    gate: &Arc<Notify>,
    value: Result<u32, String>,
) -> impl FnOnce() -> Reload + Send + 'static {
    let (runs, gate) = (runs.clone(), gate.clone());
    move || {
        Box::pin(async move {
            runs.fetch_add(1, SeqCst);
            gate.notified().await;
            value
        })
    }
}

/// A reload that counts its runs and returns `value` at once.
fn counted(runs: &Arc<AtomicUsize>, value: u32) -> impl FnOnce() -> Reload + Send + 'static {
    let runs = runs.clone();
    move || {
        Box::pin(async move {
            runs.fetch_add(1, SeqCst);
            Ok(value)
        })
    }
}

async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn eventually_reads(cache: &SharedCache, value: u32) {
    let started = Instant::now();
    while cache.get::<_, u32>("eur").await != Some(value) {
        assert!(started.elapsed() < PATIENCE, "never read {value}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The Redis key of the one value of the test.
fn redis_key(server: &RedisServer) -> String {
    let keys: Vec<String> = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("test:{rates}:[0-9a-f]*")
        .arg("COUNT")
        .arg(1000)
        .query::<(u64, Vec<String>)>(&mut server.connection())
        .unwrap()
        .1;
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys[0].clone()
}

/// The value Redis holds under the one key of the test.
fn in_redis(server: &RedisServer) -> Vec<u8> {
    server.connection().get(redis_key(server)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_refreshes_a_due_key_and_every_replica_gets_its_value() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let (clock_a, clock_b) = (ManualClock::new(), ManualClock::new());
    let (a, b) = (replica(&ta, &clock_a), replica(&tb, &clock_b));
    let runs = Arc::new(AtomicUsize::new(0));
    let loaded = a.try_get_or_refresh_with("eur", counted(&runs, 1)).await;
    assert_eq!(loaded, Ok(1));
    let from_redis = b.try_get_or_refresh_with("eur", counted(&runs, 99)).await;
    assert_eq!(from_redis, Ok(1), "b read a's value from Redis");
    assert_eq!(runs.load(SeqCst), 1);

    // Both copies are due; a's refresh is held while it holds the lock.
    clock_a.advance(REFRESH);
    clock_b.advance(REFRESH);
    let gate = Arc::new(Notify::new());
    let served = a.try_get_or_refresh_with("eur", held(&runs, &gate, Ok(2)));
    assert_eq!(served.await, Ok(1), "the due value, at once");
    eventually("a's refresh runs", || runs.load(SeqCst) == 2).await;
    // b finds its copy due too, but the key is a's to refresh.
    let served = b.try_get_or_refresh_with("eur", counted(&runs, 98)).await;
    assert_eq!(served, Ok(1), "b keeps serving its copy");
    eventually("b left the refresh to a", || b.refreshes_deferred() == 1).await;
    assert_eq!(b.get::<_, u32>("eur").await, Some(1));

    gate.notify_one();
    // a's value reaches b through Redis: its `set` dropped b's copy.
    eventually_reads(&b, 2).await;
    eventually_reads(&a, 2).await;
    assert_eq!(runs.load(SeqCst), 2, "one body for both replicas");
    assert_eq!((a.stats().refreshes, b.stats().refreshes), (1, 0));
    assert_eq!(a.stats().refresh_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_read_from_redis_is_due_by_the_age_of_the_value_there() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let (clock_a, clock_b) = (ManualClock::new(), ManualClock::new());
    let (a, b) = (replica(&ta, &clock_a), replica(&tb, &clock_b));
    a.set("eur", 1u32).await;
    eventually("b heard of the set", || tb.invalidations_received() == 1).await;
    // Age the value in Redis (which keeps real time) by 45 s: 15 s left of
    // its 60. It is due 5 s from now (50 s of age), long before a copy
    // read now is 50 s old.
    let _: () = server
        .connection()
        .pexpire(redis_key(&server), 15_000)
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let read = b.try_get_or_refresh_with("eur", counted(&runs, 99)).await;
    assert_eq!(read, Ok(1));
    clock_b.advance(Duration::from_secs(4));
    let fresh = b.try_get_or_refresh_with("eur", counted(&runs, 99)).await;
    assert_eq!((fresh, runs.load(SeqCst)), (Ok(1), 0), "not due yet");
    clock_b.advance(Duration::from_secs(2));
    let due = b.try_get_or_refresh_with("eur", counted(&runs, 2)).await;
    assert_eq!(due, Ok(1), "due: served, and refreshed behind");
    eventually_reads(&a, 2).await;
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(b.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_the_value_everywhere_and_frees_the_lock() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let (clock_a, clock_b) = (ManualClock::new(), ManualClock::new());
    let (a, b) = (replica(&ta, &clock_a), replica(&tb, &clock_b));
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        a.try_get_or_refresh_with("eur", counted(&runs, 1)).await,
        Ok(1)
    );
    let before = in_redis(&server);
    clock_a.advance(REFRESH);
    let gate = Arc::new(Notify::new());
    let failing = held(&runs, &gate, Err("backend down".into()));
    assert_eq!(a.try_get_or_refresh_with("eur", failing).await, Ok(1));
    eventually("the refresh runs", || runs.load(SeqCst) == 2).await;
    gate.notify_one();
    eventually("it failed", || a.stats().refresh_errors == 1).await;
    assert_eq!(in_redis(&server), before, "Redis keeps the old value");
    assert_eq!(a.get::<_, u32>("eur").await, Some(1));

    // The lock is free: b, due later, refreshes at once.
    assert_eq!(
        b.try_get_or_refresh_with("eur", counted(&runs, 99)).await,
        Ok(1)
    );
    clock_b.advance(REFRESH);
    assert_eq!(
        b.try_get_or_refresh_with("eur", counted(&runs, 3)).await,
        Ok(1)
    );
    eventually_reads(&a, 3).await;
    assert_eq!(b.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_timeout_serves_the_kept_value_while_the_shared_load_goes_on() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let clock = ManualClock::new();
    let a = with_soft_timeout(&ta, &clock);
    let b = replica(&tb, &ManualClock::new());
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        a.try_get_or_refresh_with("eur", counted(&runs, 1)).await,
        Ok(1)
    );
    // Expired in a's memory. Redis, on real time, still has it fresh: drop
    // it there (without telling anyone), so that the load runs the body.
    clock.advance(TTL);
    let _: () = server.connection().del(redis_key(&server)).unwrap();

    let gate = Arc::new(Notify::new());
    let started = Instant::now();
    let served = a.try_get_or_refresh_with("eur", held(&runs, &gate, Ok(2)));
    assert_eq!(
        served.await,
        Ok(1),
        "the kept value, after the soft timeout"
    );
    assert!(started.elapsed() < PATIENCE);
    assert_eq!(a.stats().refreshes, 1, "the load outlived the timeout");
    eventually("the load runs", || runs.load(SeqCst) == 2).await;
    gate.notify_one();
    eventually_reads(&a, 2).await;
    eventually_reads(&b, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_shorter_lived_than_refresh_is_never_due_in_any_replica() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let clock_b = ManualClock::new();
    let (a, b) = (replica(&ta, &ManualClock::new()), replica(&tb, &clock_b));
    // Written for 15 s (less than `refresh`): it expires, it is not due.
    a.set_with_ttl("eur", 1u32, Duration::from_secs(15)).await;
    eventually("b heard of the set", || tb.invalidations_received() == 1).await;
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..14 {
        let read = b.try_get_or_refresh_with("eur", counted(&runs, 99)).await;
        assert_eq!(read, Ok(1));
        clock_b.advance(Duration::from_secs(1));
    }
    assert_eq!(runs.load(SeqCst), 0, "never refreshed");
    assert_eq!(b.stats().refreshes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_callers_on_two_replicas_of_a_due_key_run_one_reload() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let clock = ManualClock::new();
    let (a, b) = (replica(&ta, &clock), replica(&tb, &clock));
    let runs = Arc::new(AtomicUsize::new(0));
    let first = a.try_get_or_refresh_with("eur", counted(&runs, 1)).await;
    assert_eq!(first, Ok(1));
    let copied = b.try_get_or_refresh_with("eur", counted(&runs, 99)).await;
    assert_eq!(copied, Ok(1));
    clock.advance(REFRESH);
    let gate = Arc::new(Notify::new());
    let callers: Vec<_> = (0..100)
        .map(|i| {
            let replica = if i % 2 == 0 { a.clone() } else { b.clone() };
            let reload = held(&runs, &gate, Ok(2));
            tokio::spawn(async move { replica.try_get_or_refresh_with("eur", reload).await })
        })
        .collect();
    for caller in callers {
        assert_eq!(
            caller.await.unwrap(),
            Ok(1),
            "every caller got the due value"
        );
    }
    // One replica runs the body, the other leaves the key to it.
    eventually("the reload started", || runs.load(SeqCst) == 2).await;
    eventually("the other replica deferred", || {
        a.refreshes_deferred() + b.refreshes_deferred() == 1
    })
    .await;
    gate.notify_one();
    eventually_reads(&a, 2).await;
    eventually_reads(&b, 2).await;
    assert_eq!(runs.load(SeqCst), 2, "one reload for a hundred callers");
    assert_eq!(a.stats().refreshes + b.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_during_a_refresh_wins_everywhere() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let clock = ManualClock::new();
    let (a, b) = (replica(&ta, &clock), replica(&tb, &ManualClock::new()));
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        a.try_get_or_refresh_with("eur", counted(&runs, 1)).await,
        Ok(1)
    );
    clock.advance(REFRESH);
    let gate = Arc::new(Notify::new());
    let served = a.try_get_or_refresh_with("eur", held(&runs, &gate, Ok(2)));
    assert_eq!(served.await, Ok(1));
    eventually("the refresh runs", || runs.load(SeqCst) == 2).await;
    // A set while the refresh holds the key's lock: the refresh's older
    // value must not land over it, in Redis or in any memory.
    a.set("eur", 42u32).await;
    gate.notify_one();
    eventually("the refresh ended", || a.loads_in_flight() == 0).await;
    assert_eq!(a.get::<_, u32>("eur").await, Some(42));
    eventually_reads(&b, 42).await;
    assert_eq!(runs.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_load_that_fails_counts_once_as_a_failed_reload() {
    let server = RedisServer::start();
    let ta = tier(&server).await;
    let clock = ManualClock::new();
    let a = with_soft_timeout(&ta, &clock);
    let runs = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        a.try_get_or_refresh_with("eur", counted(&runs, 1)).await,
        Ok(1)
    );
    // Expired in memory, and in its stale window in Redis too.
    clock.advance(TTL);
    let _: () = server
        .connection()
        .pexpire(redis_key(&server), 1_000_000)
        .unwrap();
    let gate = Arc::new(Notify::new());
    let failing = held(&runs, &gate, Err("down".into()));
    assert_eq!(a.try_get_or_refresh_with("eur", failing).await, Ok(1));
    assert_eq!(a.stats().stale_served, 1, "the caller, after the timeout");
    gate.notify_one();
    eventually("the load ended", || a.loads_in_flight() == 0).await;
    let stats = a.stats();
    assert_eq!(
        (stats.stale_served, stats.refresh_errors),
        (1, 1),
        "the detached failure serves nobody: {stats:?}"
    );
}
