//! `Config::enabled(false)` turns memoization off (its own process: the
//! config is global).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::{Config, cached, configure};

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn counted(n: u32) -> u32 {
    RUNS.fetch_add(1, SeqCst);
    n
}

#[tokio::test]
async fn disabled_memoization_runs_every_body_and_stores_nothing() {
    configure(Config::default().enabled(false)).expect("first configure");
    counted(1).await;
    counted(1).await;
    assert_eq!(RUNS.load(SeqCst), 2);
    assert!(counted::cache().is_empty());
}
