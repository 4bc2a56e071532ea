//! Thousands of tasks over random keys, with cancellations, panics, errors and
//! invalidations mixed in. Bounded in time; asserts no hang, no wrong value,
//! the size bound throughout, and no single-flight state left at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::AsyncCache;
use tokio::time::timeout;

const TASKS: u64 = 4_000;
const OPS_PER_TASK: u64 = 25;
const KEYS: u64 = 300;
const MAX_SIZE: usize = 100;

/// The only correct value for a key.
fn value_of(key: u64) -> u64 {
    key * 1_000 + 7
}

/// A small deterministic generator (splitmix64), one per task.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A load body: takes a little while, and sometimes fails or panics.
async fn body(key: u64, fate: u64) -> Result<u64, String> {
    for _ in 0..(fate % 4) {
        tokio::task::yield_now().await;
    }
    if fate.is_multiple_of(7) {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    match fate % 50 {
        0 => panic!("injected panic for key {key}"),
        1..=3 => Err(format!("injected error for key {key}")),
        _ => Ok(value_of(key)),
    }
}

async fn one_op(cache: &AsyncCache, rng: &mut Rng) {
    let key = rng.below(KEYS);
    let fate = rng.next();
    match rng.below(1000) {
        0 => cache.clear().await,
        1..=20 => {
            cache.delete(&key).await;
        }
        21..=140 => {
            // A caller that gives up: its own timeout, often mid-load.
            let _ = timeout(
                Duration::from_micros(rng.below(300)),
                cache.try_get_or_insert_with(&key, body(key, fate)),
            )
            .await;
        }
        141..=240 => {
            if let Some(value) = cache.get::<_, u64>(&key).await {
                assert_eq!(value, value_of(key), "get returned another key's value");
            }
        }
        _ => {
            if let Ok(value) = cache.try_get_or_insert_with(&key, body(key, fate)).await {
                assert_eq!(value, value_of(key), "load returned another key's value");
            }
        }
    }
}

/// Keeps the thousands of injected panics out of the test output; any other
/// panic is still reported.
fn silence_injected_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|text| text.starts_with("injected panic"));
        if !injected {
            report(info);
        }
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_faults_never_hang_corrupt_or_leak() {
    silence_injected_panics();
    let cache = Arc::new(AsyncCache::builder().max_size(MAX_SIZE).build().unwrap());
    let running = Arc::new(AtomicBool::new(true));

    // Watches the bound for the whole run.
    let watcher = {
        let (cache, running) = (cache.clone(), running.clone());
        tokio::spawn(async move {
            let mut checks = 0u64;
            while running.load(SeqCst) {
                assert!(cache.len() <= MAX_SIZE, "len {} > max_size", cache.len());
                checks += 1;
                tokio::task::yield_now().await;
            }
            checks
        })
    };

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut rng = Rng(task);
                for _ in 0..OPS_PER_TASK {
                    one_op(&cache, &mut rng).await;
                }
            })
        })
        .collect();

    let (mut panics, mut other_failures) = (0, Vec::new());
    let all = async {
        for task in tasks {
            match task.await {
                Ok(()) => {}
                Err(err) if err.is_panic() => {
                    let message = err.into_panic();
                    let text = message
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_default();
                    if text.starts_with("injected panic") {
                        panics += 1;
                    } else {
                        other_failures.push(text);
                    }
                }
                Err(err) => other_failures.push(err.to_string()),
            }
        }
    };
    timeout(Duration::from_secs(120), all)
        .await
        .expect("the stress run hung");
    running.store(false, SeqCst);
    let checks = watcher.await.expect("the size bound was broken");

    assert!(
        other_failures.is_empty(),
        "unexpected failures: {other_failures:?}"
    );
    assert!(panics > 0, "the run should have injected some panics");
    assert!(checks > 0);
    assert!(cache.len() <= MAX_SIZE);
    assert_eq!(cache.loads_in_flight(), 0, "in-flight loads left behind");
    assert_eq!(cache.waiters_in_flight(), 0, "waiters left behind");
    let stats = cache.stats();
    println!("{stats:?}");
    assert!(
        stats.hits > 0 && stats.coalesced > 0 && stats.evictions > 0,
        "the run should exercise hits, shared loads and evictions: {stats:?}"
    );
}
