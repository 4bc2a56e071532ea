//! Many tasks on many threads: the bound holds at every moment, a value read
//! back is always the one stored for its key, and concurrent loads of one key
//! run its body once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use memo_runtime::AsyncCache;
use tokio::sync::{Barrier, watch};

const MAX_SIZE: usize = 100;
/// Ten times the bound, so that sets evict all the time.
const KEY_SPACE: u64 = 1000;
const TASKS: u64 = 64;
const OPS_PER_TASK: u64 = 2000;

/// The only value ever stored under `key`, so any read can be checked.
fn value_for(key: u64) -> (u64, String) {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15), format!("v{key}"))
}

/// A per-task xorshift generator: no shared state between the tasks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_set_get_delete_keeps_the_bound_and_the_values_right() {
    let cache = Arc::new(
        AsyncCache::builder()
            .max_size(MAX_SIZE)
            .default_ttl(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let (sets, gets, hits) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );

    // The watcher looks at len() for as long as the workers run.
    let watcher = tokio::spawn({
        let (cache, done) = (Arc::clone(&cache), Arc::clone(&done));
        async move {
            let mut looks = 0u64;
            loop {
                let len = cache.len();
                assert!(len <= MAX_SIZE, "len {len} > max_size {MAX_SIZE}");
                looks += 1;
                if done.load(Ordering::Acquire) {
                    return looks;
                }
                tokio::task::yield_now().await;
            }
        }
    });

    let start = Arc::new(Barrier::new(TASKS as usize));
    let workers: Vec<_> = (0..TASKS)
        .map(|task| {
            let (cache, start) = (Arc::clone(&cache), Arc::clone(&start));
            let (sets, gets, hits) = (Arc::clone(&sets), Arc::clone(&gets), Arc::clone(&hits));
            tokio::spawn(async move {
                let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (task + 1).wrapping_mul(0x1000_0001));
                start.wait().await;
                for _ in 0..OPS_PER_TASK {
                    let roll = rng.next();
                    let key = (roll >> 8) % KEY_SPACE;
                    match roll % 10 {
                        0..=3 => {
                            cache.set(&key, value_for(key)).await;
                            sets.fetch_add(1, Ordering::Relaxed);
                        }
                        4..=8 => {
                            let got = cache.get::<_, (u64, String)>(&key).await;
                            gets.fetch_add(1, Ordering::Relaxed);
                            if let Some(value) = got {
                                assert_eq!(value, value_for(key), "wrong value for key {key}");
                                hits.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            cache.delete(&key).await;
                        }
                    }
                    assert!(cache.len() <= MAX_SIZE);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker failed");
    }
    done.store(true, Ordering::Release);
    let looks = watcher.await.expect("the watcher saw the bound broken");
    assert!(looks > 0);

    let stats = cache.stats();
    assert_eq!(stats.inserts, sets.load(Ordering::Relaxed));
    assert_eq!(stats.hits + stats.misses, gets.load(Ordering::Relaxed));
    assert_eq!(stats.hits, hits.load(Ordering::Relaxed));
    assert!(
        stats.evictions > 0,
        "the key space should have forced evictions"
    );

    // len() agrees with what is actually stored, and every survivor is right.
    let mut stored = 0;
    for key in 0..KEY_SPACE {
        if let Some(value) = cache.get::<_, (u64, String)>(&key).await {
            assert_eq!(value, value_for(key));
            stored += 1;
        }
    }
    assert_eq!(stored, cache.len());
    assert!(cache.len() <= MAX_SIZE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_loads_of_one_key_run_the_body_once() {
    const CALLERS: usize = 100;
    let cache = Arc::new(
        AsyncCache::builder()
            .max_size(10)
            .default_ttl(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    // The body waits at this gate until every caller has missed. A watch
    // channel rather than a Notify: opening it releases every body that
    // waits, so a cache without single flight fails the count instead of
    // hanging.
    let (open_gate, gate) = watch::channel(false);
    let start = Arc::new(Barrier::new(CALLERS));

    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (cache, runs, start) = (Arc::clone(&cache), Arc::clone(&runs), Arc::clone(&start));
            let mut gate = gate.clone();
            tokio::spawn(async move {
                start.wait().await;
                cache
                    .get_or_insert_with("config", async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        gate.wait_for(|open| *open).await.expect("gate kept");
                        Arc::new(String::from("loaded once"))
                    })
                    .await
            })
        })
        .collect();

    // Every caller counts a miss before it joins or leads the flight; the
    // leader's body cannot finish before the gate opens, so all of them meet it.
    tokio::time::timeout(Duration::from_secs(30), async {
        while cache.stats().misses < CALLERS as u64 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every caller should reach the cache");
    assert_eq!(cache.loads_in_flight(), 1);
    open_gate.send(true).unwrap();

    let mut values = Vec::new();
    for caller in callers {
        values.push(caller.await.expect("a caller failed"));
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the body ran more than once"
    );
    // All callers got the very value the one body produced.
    assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));
    assert_eq!(*values[0], "loaded once");

    let stats = cache.stats();
    assert_eq!(stats.coalesced, CALLERS as u64 - 1);
    assert_eq!(stats.inserts, 1);
    assert_eq!(cache.loads_in_flight(), 0);
    assert_eq!(
        cache
            .get::<_, Arc<String>>("config")
            .await
            .as_deref()
            .map(String::as_str),
        Some("loaded once")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loads_of_different_keys_do_not_wait_for_each_other() {
    let cache = Arc::new(
        AsyncCache::builder()
            .max_size(10)
            .default_ttl(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let (open_gate, mut gate) = watch::channel(false);
    let blocked = tokio::spawn({
        let cache = Arc::clone(&cache);
        async move {
            cache
                .get_or_insert_with("slow", async move {
                    gate.wait_for(|open| *open).await.expect("gate kept");
                    1u32
                })
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(30), async {
        while cache.loads_in_flight() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the slow load should start");

    // With "slow" still loading, another key loads at once.
    let fast = tokio::time::timeout(
        Duration::from_secs(30),
        cache.get_or_insert_with("fast", async { 2u32 }),
    )
    .await
    .expect("a load of another key must not wait");
    assert_eq!(fast, 2);

    open_gate.send(true).unwrap();
    assert_eq!(blocked.await.unwrap(), 1);
}
