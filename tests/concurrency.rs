//! Many tasks on many worker threads using one cache at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use memo_runtime::AsyncCache;

const MAX_SIZE: usize = 256;

fn value_of(key: u32) -> u64 {
    u64::from(key) * 7 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_never_break_the_bound_or_see_another_keys_value() {
    let cache = Arc::new(AsyncCache::builder().max_size(MAX_SIZE).build().unwrap());
    let running = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (cache, running) = (cache.clone(), running.clone());
        tokio::spawn(async move {
            let mut checks = 0u64;
            while running.load(SeqCst) {
                assert!(cache.len() <= MAX_SIZE, "len {} > {MAX_SIZE}", cache.len());
                checks += 1;
                tokio::task::yield_now().await;
            }
            checks
        })
    };
    let tasks: Vec<_> = (0..64u32)
        .map(|task| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut state = u64::from(task) + 1;
                let mut next = move || {
                    // splitmix64: a different stream per task.
                    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let z = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    z ^ (z >> 31)
                };
                for _ in 0..2_000 {
                    let key = (next() % 1_000) as u32; // four times the bound
                    match next() % 10 {
                        0 => {
                            cache.delete(&key).await;
                        }
                        1..=4 => cache.set(&key, value_of(key)).await,
                        _ => {
                            if let Some(value) = cache.get::<_, u64>(&key).await {
                                assert_eq!(value, value_of(key));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a task failed");
    }
    running.store(false, SeqCst);
    assert!(watcher.await.unwrap() > 0);
    assert!(cache.len() <= MAX_SIZE);
    let stats = cache.stats();
    assert!(stats.evictions > 0 && stats.hits > 0, "{stats:?}");
}
