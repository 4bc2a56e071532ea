//! `#[cached(refresh = ..)]`: a due value is returned at once and the body,
//! its arguments moved in, reloads it in the background: on the tokio
//! runtime for an async fn, on a thread for a plain fn. Each function uses
//! a cache of its own on its own manual clock.

mod common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use memo_runtime::cached;

const PATIENCE: Duration = Duration::from_secs(10);

on_manual_clock!(PRICES_CLOCK, PRICES);
static PRICE: AtomicU32 = AtomicU32::new(100);
static PRICE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, refresh = 50, cache = PRICES)]
async fn price(sku: String) -> Result<u32, String> {
    PRICE_RUNS.fetch_add(1, SeqCst);
    match PRICE.load(SeqCst) {
        0 => Err(format!("no price for {sku}")),
        cents => Ok(cents),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_serves_a_due_value_and_reloads_it_in_the_background() {
    assert_eq!(price("sku-1".into()).await, Ok(100));
    PRICE.store(120, SeqCst);
    PRICES_CLOCK.advance(Duration::from_secs(50));
    assert_eq!(
        price("sku-1".into()).await,
        Ok(100),
        "the due value, at once"
    );
    let started = Instant::now();
    while price("sku-1".into()).await != Ok(120) {
        assert!(started.elapsed() < PATIENCE, "the reload never landed");
        tokio::task::yield_now().await;
    }
    assert_eq!(PRICE_RUNS.load(SeqCst), 2);
    // A failed reload keeps the value.
    PRICE.store(0, SeqCst);
    PRICES_CLOCK.advance(Duration::from_secs(50));
    assert_eq!(price("sku-1".into()).await, Ok(120));
    while PRICES.stats().refresh_errors == 0 {
        assert!(started.elapsed() < PATIENCE, "the reload never failed");
        tokio::task::yield_now().await;
    }
    assert_eq!(price("sku-1".into()).await, Ok(120));
    assert_eq!(PRICES.stats().refreshes, 2);
}

on_manual_clock!(SYNC_CLOCK, SYNC);
static SQUARE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 10, refresh = 5, cache = SYNC)]
fn square(n: u64) -> u64 {
    SQUARE_RUNS.fetch_add(1, SeqCst);
    n * n
}

#[test]
fn a_plain_fn_reloads_a_due_value_on_a_thread() {
    assert_eq!(square(7), 49);
    SYNC_CLOCK.advance(Duration::from_secs(5));
    assert_eq!(square(7), 49);
    let started = Instant::now();
    while SQUARE_RUNS.load(SeqCst) < 2 || SYNC.loads_in_flight() > 0 {
        assert!(started.elapsed() < PATIENCE, "the reload never ran");
        std::thread::yield_now();
    }
    // Reloaded at 5 s: not due again before 10 s.
    SYNC_CLOCK.advance(Duration::from_secs(4));
    assert_eq!(square(7), 49);
    assert_eq!(
        SQUARE_RUNS.load(SeqCst),
        2,
        "a hit: the reload reset its age"
    );
    assert_eq!(SYNC.stats().refreshes, 1);
}
