//! `impl Trait` arguments: each caller picks the concrete type, and values of
//! different types never share an entry.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::cached;
use serde::Serialize;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn describe(value: impl Serialize + std::fmt::Debug) -> String {
    RUNS.fetch_add(1, SeqCst);
    format!("{value:?} as {}", std::any::type_name_of_val(&value))
}

#[tokio::test]
async fn each_concrete_type_has_its_own_entries() {
    assert_eq!(describe(1u32).await, "1 as u32");
    // The same value as another type is another call.
    assert_eq!(describe(1u64).await, "1 as u64");
    assert_eq!(RUNS.load(SeqCst), 2);
    // The same type again hits.
    assert_eq!(describe(1u32).await, "1 as u32");
    assert_eq!(RUNS.load(SeqCst), 2);
    assert_ne!(describe::key(1u32), describe::key(1u64));
    assert!(describe::invalidate(1u64).await);
    assert!(!describe::invalidate(1u16).await);
}
