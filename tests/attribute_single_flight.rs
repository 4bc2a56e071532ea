//! Single flight through `#[cached]`: a stampede runs the body once, and the
//! companions' invalidations win over a load in flight.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use memo_runtime::{cached, invalidate};
use tokio::sync::Notify;
use tokio::time::timeout;

static STAMPEDE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn slow_square(n: u64) -> u64 {
    STAMPEDE_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    n * n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stampede_on_one_cold_key_runs_the_body_once() {
    let calls: Vec<_> = (0..1000).map(|_| tokio::spawn(slow_square(12))).collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 144);
    }
    assert_eq!(STAMPEDE_RUNS.load(SeqCst), 1);
    let stats = slow_square::stats();
    assert_eq!(stats.hits + stats.coalesced, 999);
}

/// Lets a test hold `held` bodies until it says so.
static RELEASE: LazyLock<Arc<Notify>> = LazyLock::new(|| Arc::new(Notify::new()));

#[cached]
async fn held(n: u32) -> u32 {
    RELEASE.notified().await;
    n + 1
}

async fn until_loading() {
    timeout(Duration::from_secs(10), async {
        while held::cache().loads_in_flight() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the load never started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn companion_invalidations_win_over_loads_in_flight() {
    // invalidate!() during a load: the value reaches the caller, not the cache.
    let call = tokio::spawn(held(1));
    until_loading().await;
    assert!(!invalidate!(held, 1).await);
    RELEASE.notify_one();
    assert_eq!(call.await.unwrap(), 2);
    assert!(held::cache().is_empty());

    // The same for clear().
    let call = tokio::spawn(held(2));
    until_loading().await;
    held::clear().await;
    RELEASE.notify_one();
    assert_eq!(call.await.unwrap(), 3);
    assert!(held::cache().is_empty());

    // Without an invalidation, the value is stored.
    let call = tokio::spawn(held(3));
    until_loading().await;
    RELEASE.notify_one();
    assert_eq!(call.await.unwrap(), 4);
    assert_eq!(held::cache().len(), 1);
}
