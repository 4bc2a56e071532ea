//! The `lookup` companion: a call's value and where it came from
//! (`cached`'s `with_cached_flag`): memory, this call's own load, another
//! call's load it waited for, or a kept value standing in for a failure.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::{Source, cached};
use tokio::sync::Notify;

#[cached]
fn double(n: u32) -> u32 {
    n * 2
}

#[test]
fn a_plain_fn_tells_a_load_from_a_hit() {
    assert_eq!(double::lookup(4), (8, Source::Loaded));
    assert_eq!(double::lookup(4), (8, Source::Hit));
    assert_eq!(double(5), 10);
    assert_eq!(double::lookup(5), (10, Source::Hit));
    // Counted as calls, too.
    assert_eq!(double::stats().hits, 2);
}

static RELEASE: std::sync::LazyLock<Arc<Notify>> = std::sync::LazyLock::new(Default::default);

#[cached]
async fn slow(n: u32) -> u32 {
    RELEASE.notified().await;
    n + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_waited_for_another_load_says_so() {
    let leader = tokio::spawn(slow::lookup(1));
    while slow::cache().loads_in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    let waiter = tokio::spawn(slow::lookup(1));
    while slow::cache().waiters_in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    RELEASE.notify_one();
    assert_eq!(leader.await.unwrap(), (2, Source::Loaded));
    assert_eq!(waiter.await.unwrap(), (2, Source::Waited));
    assert_eq!(slow::lookup(1).await, (2, Source::Hit));
}

on_manual_clock!(CLOCK, RATES);
static DOWN: AtomicBool = AtomicBool::new(false);

#[cached(ttl = 60, stale = 600, cache = RATES)]
async fn rate(currency: String) -> Result<u32, String> {
    if DOWN.load(SeqCst) {
        Err(format!("no rate for {currency}"))
    } else {
        Ok(108)
    }
}

#[tokio::test]
async fn a_kept_value_standing_in_for_a_failure_is_stale() {
    assert_eq!(rate::lookup("USD".into()).await, (Ok(108), Source::Loaded));
    CLOCK.advance(Duration::from_secs(60));
    DOWN.store(true, SeqCst);
    assert_eq!(rate::lookup("USD".into()).await, (Ok(108), Source::Stale));
    // An `Err` with nothing kept is this call's own.
    let (failed, source) = rate::lookup("GBP".into()).await;
    assert!(failed.is_err());
    assert_eq!(source, Source::Loaded);
}
