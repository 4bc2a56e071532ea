//! Single flight under faults: one body run per key, no hangs when the
//! running caller is cancelled or panics, bounded waits after an error, and
//! invalidations that win over loads in flight.
//!
//! Bodies are held and released with `Notify`/`Barrier`; the tests wait for
//! callers to be registered as waiters (`waiters_in_flight`) instead of
//! sleeping. Every wait that could hang on a bug is bounded by `timeout`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::AsyncCache;
use tokio::sync::{Barrier, Notify};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Long enough to never fire in a passing run, short enough to fail fast.
const HANG: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(HANG, future)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// Yields until `count` callers wait on the cache's loads in flight.
async fn until_waiting(cache: &AsyncCache, count: usize) {
    bounded("waiting for waiters", async {
        while cache.waiters_in_flight() < count {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Yields until a load is running.
async fn until_loading(cache: &AsyncCache) {
    bounded("waiting for a load", async {
        while cache.loads_in_flight() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

fn new_cache() -> Arc<AsyncCache> {
    Arc::new(AsyncCache::builder().max_size(100).build().unwrap())
}

/// Spawns `n` callers of `key` whose bodies count their runs and return `value`.
fn callers(
    cache: &Arc<AsyncCache>,
    n: usize,
    key: u32,
    runs: &Arc<AtomicUsize>,
    value: u64,
) -> Vec<JoinHandle<u64>> {
    (0..n)
        .map(|_| {
            let (cache, runs) = (Arc::clone(cache), Arc::clone(runs));
            tokio::spawn(async move {
                cache
                    .get_or_insert_with(&key, async {
                        runs.fetch_add(1, SeqCst);
                        value
                    })
                    .await
            })
        })
        .collect()
}

/// Spawns the caller that leads a load of `key`: its body counts its run,
/// then runs `body`. Returns once the load is in flight.
async fn spawn_leader<B>(
    cache: &Arc<AsyncCache>,
    key: u32,
    runs: &Arc<AtomicUsize>,
    body: B,
) -> JoinHandle<u64>
where
    B: Future<Output = u64> + Send + 'static,
{
    let (shared, runs) = (Arc::clone(cache), Arc::clone(runs));
    let leader = tokio::spawn(async move {
        let load = async move {
            runs.fetch_add(1, SeqCst);
            body.await
        };
        shared.get_or_insert_with(&key, load).await
    });
    until_loading(cache).await;
    leader
}

/// A body that returns `value` once `release` is notified.
async fn released(release: Arc<Notify>, value: u64) -> u64 {
    release.notified().await;
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_of_one_key_run_the_body_once() {
    let cache = new_cache();
    let release = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let leader = spawn_leader(&cache, 1, &runs, released(release.clone(), 7)).await;
    let waiters = callers(&cache, 50, 1, &runs, 99);
    until_waiting(&cache, 50).await;
    release.notify_one();
    assert_eq!(bounded("leader", leader).await.unwrap(), 7);
    for waiter in waiters {
        assert_eq!(bounded("waiter", waiter).await.unwrap(), 7);
    }
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(cache.stats().coalesced, 50);
    assert_eq!(cache.loads_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_keys_never_wait_on_a_load() {
    let cache = new_cache();
    let runs = Arc::new(AtomicUsize::new(0));
    let stuck = spawn_leader(&cache, 1, &runs, std::future::pending()).await;
    let other = cache.get_or_insert_with(&2, async { 5u64 });
    assert_eq!(bounded("another key", other).await, 5);
    stuck.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_leader_hands_over_to_a_waiter() {
    let cache = new_cache();
    let runs = Arc::new(AtomicUsize::new(0));
    let leader = spawn_leader(&cache, 3, &runs, std::future::pending()).await;
    let waiters = callers(&cache, 20, 3, &runs, 42);
    until_waiting(&cache, 20).await;
    leader.abort();
    for waiter in waiters {
        assert_eq!(bounded("waiter after abort", waiter).await.unwrap(), 42);
    }
    assert_eq!(runs.load(SeqCst), 2, "the aborted run and one take-over");
    assert_eq!(cache.get::<_, u64>(&3).await, Some(42));
    assert_eq!(cache.loads_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_body_reaches_its_caller_and_a_waiter_takes_over() {
    let cache = new_cache();
    let release = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let exploding = {
        let release = release.clone();
        async move {
            release.notified().await;
            panic!("upstream exploded")
        }
    };
    let leader = spawn_leader(&cache, 4, &runs, exploding).await;
    let waiters = callers(&cache, 20, 4, &runs, 8);
    until_waiting(&cache, 20).await;
    release.notify_one();
    let err = bounded("leader", leader).await.unwrap_err();
    assert!(
        err.is_panic(),
        "the panic reaches the caller that ran the body"
    );
    for waiter in waiters {
        assert_eq!(bounded("waiter after panic", waiter).await.unwrap(), 8);
    }
    assert_eq!(runs.load(SeqCst), 2);
    // Nothing is poisoned: the cache keeps working for this key and others.
    assert_eq!(cache.get::<_, u64>(&4).await, Some(8));
    assert_eq!(cache.get_or_insert_with(&5, async { 9u64 }).await, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_of_a_failed_load_each_retry_once_at_the_same_time() {
    const WAITERS: usize = 30;
    let cache = new_cache();
    let release = Arc::new(Notify::new());
    let leader = {
        let (cache, release) = (cache.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .try_get_or_insert_with(&6, async {
                    release.notified().await;
                    Err::<u64, String>("upstream down".into())
                })
                .await
        })
    };
    until_loading(&cache).await;
    // Each waiter's own body waits at a barrier for all the others: if the
    // retries ran one after another (a sequential storm), it would never open.
    let all_retrying = Arc::new(Barrier::new(WAITERS));
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (cache, all_retrying) = (cache.clone(), all_retrying.clone());
            tokio::spawn(async move {
                cache
                    .try_get_or_insert_with(&6, async {
                        all_retrying.wait().await;
                        Err::<u64, String>("still down".into())
                    })
                    .await
            })
        })
        .collect();
    until_waiting(&cache, WAITERS).await;
    release.notify_one();
    assert_eq!(
        bounded("leader", leader).await.unwrap(),
        Err("upstream down".into())
    );
    for waiter in waiters {
        let result = bounded("waiter of a failed load", waiter).await.unwrap();
        assert_eq!(result, Err("still down".into()));
    }
    assert!(cache.is_empty(), "errors are not stored");
    assert_eq!(cache.loads_in_flight(), 0);
}

/// Starts a load of `key` held until `release`, then runs `invalidate`, then
/// releases it; returns what the caller got.
async fn load_racing(
    cache: &Arc<AsyncCache>,
    key: u32,
    invalidate: impl Future<Output = ()>,
) -> u64 {
    let release = Arc::new(Notify::new());
    let loader = {
        let (cache, release) = (cache.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .get_or_insert_with(&key, async move {
                    release.notified().await;
                    11u64
                })
                .await
        })
    };
    until_loading(cache).await;
    invalidate.await;
    release.notify_one();
    bounded("loader", loader).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_during_a_load_wins() {
    let cache = new_cache();
    let got = load_racing(&cache, 1, async {
        assert!(!cache.delete(&1).await, "nothing stored yet");
    })
    .await;
    assert_eq!(got, 11, "the load's value still reaches its caller");
    assert_eq!(cache.get::<_, u64>(&1).await, None, "but is not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clear_during_a_load_wins() {
    let cache = new_cache();
    let got = load_racing(&cache, 2, cache.clear()).await;
    assert_eq!(got, 11);
    assert!(cache.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unrelated_delete_does_not_stop_a_load_from_being_stored() {
    let cache = new_cache();
    let got = load_racing(&cache, 3, async {
        cache.delete(&4).await;
    })
    .await;
    assert_eq!(got, 11);
    assert_eq!(cache.get::<_, u64>(&3).await, Some(11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ttl_of_a_loaded_value_runs_from_when_it_is_stored() {
    let cache = Arc::new(
        AsyncCache::builder()
            .default_ttl(Duration::from_millis(500))
            .build()
            .unwrap(),
    );
    // The body takes three times the TTL: were the TTL counted from the call,
    // the value would be expired the moment it is stored.
    let value = cache
        .get_or_insert_with(&1, async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            1u8
        })
        .await;
    assert_eq!(value, 1);
    assert_eq!(cache.get::<_, u8>(&1).await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_that_give_up_leave_nothing_behind() {
    let cache = new_cache();
    let release = Arc::new(Notify::new());
    let leader = {
        let (cache, release) = (cache.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .get_or_insert_with(&9, async move {
                    release.notified().await;
                    1u64
                })
                .await
        })
    };
    until_loading(&cache).await;
    for _ in 0..1000 {
        let gave_up = timeout(
            Duration::from_micros(50),
            cache.get_or_insert_with(&9, async { 2u64 }),
        )
        .await;
        assert!(
            gave_up.is_err(),
            "the load is held, so the waiter times out"
        );
    }
    assert_eq!(cache.waiters_in_flight(), 0, "no waiter state is left");
    assert_eq!(cache.loads_in_flight(), 1);
    release.notify_one();
    assert_eq!(bounded("leader", leader).await.unwrap(), 1);
    assert_eq!(cache.loads_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_after_a_delete_does_not_get_the_value_of_a_load_from_before_it() {
    let cache = new_cache();
    let release = Arc::new(Notify::new());
    let before = {
        let (cache, release) = (cache.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .get_or_insert_with(&1, async move {
                    release.notified().await;
                    "read before the delete"
                })
                .await
        })
    };
    until_loading(&cache).await;
    // The data changed: delete, then ask again. The load in flight read the
    // old data; this caller must run its own load, not wait for that one.
    assert!(!cache.delete(&1).await);
    let after = bounded(
        "the caller after the delete",
        cache.get_or_insert_with(&1, async { "read after the delete" }),
    )
    .await;
    assert_eq!(after, "read after the delete");
    release.notify_one();
    assert_eq!(before.await.unwrap(), "read before the delete");
    assert_eq!(
        cache.get::<_, &str>(&1).await,
        Some("read after the delete"),
        "the doomed load did not overwrite it"
    );
}

/// A value whose first `Clone` panics (a bug in a user's `Clone`), and
/// whose later clones work.
#[derive(Debug)]
struct FirstCloneFails(u64, Arc<AtomicUsize>);

impl Clone for FirstCloneFails {
    fn clone(&self) -> Self {
        if self.1.fetch_add(1, SeqCst) == 0 {
            panic!("the first clone fails");
        }
        FirstCloneFails(self.0, Arc::clone(&self.1))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_clone_of_the_loaded_value_hands_over_to_a_waiter() {
    let cache = new_cache();
    let clones = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let leader = {
        let (cache, clones, release) = (cache.clone(), clones.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .get_or_insert_with(&6, async move {
                    release.notified().await;
                    FirstCloneFails(1, clones)
                })
                .await
        })
    };
    until_loading(&cache).await;
    let waiter = {
        let (cache, clones) = (cache.clone(), clones.clone());
        tokio::spawn(async move {
            cache
                .get_or_insert_with(&6, async move { FirstCloneFails(2, clones) })
                .await
        })
    };
    until_waiting(&cache, 1).await;
    release.notify_one();
    assert!(bounded("leader", leader).await.unwrap_err().is_panic());
    let got = bounded("the waiter after the leader's clone failed", waiter).await;
    assert_eq!(got.unwrap().0, 2, "the waiter ran its own load");
    assert_eq!(cache.loads_in_flight(), 0);
}

/// A value whose `Clone` asks the cache it is stored in how many loads are
/// in flight, which reads every shard under its lock: a clone made while
/// the store holds a shard's write lock would never return.
struct ClonesAskTheCache(u64, Arc<AsyncCache>);

impl Clone for ClonesAskTheCache {
    fn clone(&self) -> Self {
        let _ = self.1.loads_in_flight();
        ClonesAskTheCache(self.0, Arc::clone(&self.1))
    }
}

#[test]
fn a_clone_that_calls_into_its_own_cache_does_not_deadlock_the_store() {
    // On a thread of its own: a deadlock blocks its thread for good, so the
    // test waits on a channel instead of on the thread.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let cache = new_cache();
            let value = ClonesAskTheCache(3, Arc::clone(&cache));
            let loaded = cache.get_or_insert_with(&7, async move { value }).await;
            let hit = cache.get::<_, ClonesAskTheCache>(&7).await;
            // The value holds its cache; let the test's cache go.
            cache.clear().await;
            done.send((loaded.0, hit.map(|hit| hit.0))).unwrap();
        });
    });
    let got = finished
        .recv_timeout(HANG)
        .expect("a load whose value's clone reads the cache deadlocked");
    assert_eq!(got, (3, Some(3)));
}
