//! Arguments may be named like the generated code's own items.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::cached;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn named(cache: i32, key: i32, result: i32, value: i32, stats: i32) -> i32 {
    RUNS.fetch_add(1, SeqCst);
    cache + key + result + value + stats
}

#[cached]
fn named_sync(cache: u8, key: u8, uncached: u8, invalidate: u8) -> u8 {
    cache + key + uncached + invalidate
}

#[tokio::test]
async fn arguments_named_like_companions_are_keyed_normally() {
    assert_eq!(named(1, 2, 3, 4, 5).await, 15);
    assert_eq!(named(1, 2, 3, 4, 5).await, 15);
    assert_eq!(named(5, 4, 3, 2, 1).await, 15);
    assert_eq!(RUNS.load(SeqCst), 2);
    assert!(named::invalidate(1, 2, 3, 4, 5).await);
    assert!(!named::invalidate(1, 2, 3, 4, 5).await);
    assert_ne!(named::key(1, 2, 3, 4, 5), named::key(5, 4, 3, 2, 1));

    assert_eq!(named_sync(1, 2, 3, 4), 10);
    assert!(named_sync::invalidate(1, 2, 3, 4));
}
