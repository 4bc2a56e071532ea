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

on_manual_clock!(COMPANION_CLOCK, COMPANION);
static GREETING: std::sync::Mutex<&str> = std::sync::Mutex::new("hello");
static GREET_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, cache = COMPANION)]
fn greeting(name: String) -> Result<String, String> {
    GREET_RUNS.fetch_add(1, SeqCst);
    match *GREETING.lock().unwrap() {
        "" => Err(format!("no greeting for {name}")),
        word => Ok(format!("{word}, {name}")),
    }
}

#[test]
fn the_refresh_companion_runs_the_body_now_and_replaces_the_entry() {
    assert_eq!(greeting("Ada".into()).as_deref(), Ok("hello, Ada"));
    *GREETING.lock().unwrap() = "hi";
    // A call is still a hit; the companion runs the body and stores.
    assert_eq!(greeting("Ada".into()).as_deref(), Ok("hello, Ada"));
    assert_eq!(greeting::refresh("Ada".into()).as_deref(), Ok("hi, Ada"));
    assert_eq!(greeting("Ada".into()).as_deref(), Ok("hi, Ada"));
    assert_eq!(GREET_RUNS.load(SeqCst), 2);
    // The refreshed value lives a full TTL from the refresh.
    COMPANION_CLOCK.advance(Duration::from_secs(30));
    assert_eq!(greeting::refresh("Ada".into()).as_deref(), Ok("hi, Ada"));
    COMPANION_CLOCK.advance(Duration::from_secs(59));
    assert_eq!(greeting("Ada".into()).as_deref(), Ok("hi, Ada"));
    assert_eq!(GREET_RUNS.load(SeqCst), 3);
    // An `Err` is returned and not stored; without `stale` nothing stands
    // in for it, so the entry is gone and the next call runs the body.
    *GREETING.lock().unwrap() = "";
    assert!(greeting::refresh("Ada".into()).is_err());
    *GREETING.lock().unwrap() = "hey";
    assert_eq!(greeting("Ada".into()).as_deref(), Ok("hey, Ada"));
    assert_eq!(GREET_RUNS.load(SeqCst), 5);
}

static STOCK_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, cache = COMPANION)]
async fn stock(sku: String) -> usize {
    STOCK_RUNS.fetch_add(1, SeqCst) + sku.len()
}

#[tokio::test]
async fn an_async_refresh_companion_stores_too() {
    let first = stock("sku-9".into()).await;
    let refreshed = stock::refresh("sku-9".into()).await;
    assert_eq!(refreshed, first + 1, "the body ran again");
    assert_eq!(
        stock("sku-9".into()).await,
        refreshed,
        "and its value is the entry"
    );
    assert_eq!(STOCK_RUNS.load(SeqCst), 2);
}
