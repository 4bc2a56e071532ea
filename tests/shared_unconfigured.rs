//! `#[cached(shared)]` without a configured tier caches in memory only,
//! with a warning, never a panic (its own process: nothing configures).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::cached;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(shared)]
async fn price(sku: u32) -> u64 {
    RUNS.fetch_add(1, SeqCst);
    u64::from(sku)
}

#[tokio::test]
async fn without_a_tier_a_shared_function_caches_in_memory() {
    assert_eq!(price(3).await, 3);
    assert_eq!(price(3).await, 3);
    assert_eq!(RUNS.load(SeqCst), 1);
    assert_eq!(price::stats().hits, 1);
    assert!(price::invalidate(3).await);
    price::clear().await;
    assert!(price::cache().is_empty());
}
