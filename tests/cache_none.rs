//! `cache_none = false`: a `None` result is returned but not stored, for
//! users coming from `cached`, whose `#[cached]` never stores a `None`.
//! Storing `None` stays the default.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::cached;

static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(cache_none = false)]
async fn find(id: u32) -> Option<String> {
    ASYNC_RUNS.fetch_add(1, SeqCst);
    id.is_multiple_of(2).then(|| format!("#{id}"))
}

static SYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(cache_none = false)]
fn find_sync(id: u32) -> Option<u32> {
    SYNC_RUNS.fetch_add(1, SeqCst);
    (id > 10).then_some(id)
}

static DEFAULT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn find_default(id: u32) -> Option<u32> {
    DEFAULT_RUNS.fetch_add(1, SeqCst);
    None.filter(|_| id > 0)
}

#[tokio::test]
async fn none_is_returned_but_not_stored() {
    assert_eq!(find(1).await, None);
    assert_eq!(find(1).await, None);
    assert_eq!(ASYNC_RUNS.load(SeqCst), 2);
    assert!(find::cache().is_empty());

    assert_eq!(find(2).await.as_deref(), Some("#2"));
    assert_eq!(find(2).await.as_deref(), Some("#2"));
    assert_eq!(ASYNC_RUNS.load(SeqCst), 3);
    assert_eq!(find::stats().hits, 1);
}

#[test]
fn none_is_not_stored_by_sync_functions_either() {
    assert_eq!(find_sync(1), None);
    assert_eq!(find_sync(1), None);
    assert_eq!(SYNC_RUNS.load(SeqCst), 2);
    assert_eq!(find_sync(11), Some(11));
    assert_eq!(find_sync(11), Some(11));
    assert_eq!(SYNC_RUNS.load(SeqCst), 3);
}

#[tokio::test]
async fn by_default_a_none_is_stored() {
    assert_eq!(find_default(1).await, None);
    assert_eq!(find_default(1).await, None);
    assert_eq!(DEFAULT_RUNS.load(SeqCst), 1);
}
