//! `#[cached(stale = .., stale_retry = .., jitter = ..)]`: the freshness
//! settings of one function, on async and plain fns. Each function uses a
//! cache of its own on its own manual clock (`cache = ..`), so time passes
//! only when its test advances it.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::cached;

on_manual_clock!(RATES_CLOCK, RATES);
static BACKEND_DOWN: AtomicBool = AtomicBool::new(false);
static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, stale = 600, stale_retry = 5, cache = RATES)]
async fn rate(currency: String) -> Result<u32, String> {
    RATE_RUNS.fetch_add(1, SeqCst);
    if BACKEND_DOWN.load(SeqCst) {
        Err(format!("no rate for {currency}: backend down"))
    } else {
        Ok(currency.len() as u32 * 100 + RATE_RUNS.load(SeqCst) as u32)
    }
}

#[tokio::test]
async fn an_async_fn_serves_its_kept_value_while_its_backend_is_down() {
    let first = rate("EUR".into()).await.unwrap();
    RATES_CLOCK.advance(Duration::from_secs(60));
    BACKEND_DOWN.store(true, SeqCst);
    assert_eq!(
        rate("EUR".into()).await,
        Ok(first),
        "the kept value, not the Err"
    );
    assert_eq!(RATE_RUNS.load(SeqCst), 2, "the body was tried");
    // The throttle: the backend is left alone for `stale_retry`.
    RATES_CLOCK.advance(Duration::from_secs(4));
    assert_eq!(rate("EUR".into()).await, Ok(first));
    assert_eq!(RATE_RUNS.load(SeqCst), 2);
    RATES_CLOCK.advance(Duration::from_secs(1));
    assert_eq!(rate("EUR".into()).await, Ok(first));
    assert_eq!(RATE_RUNS.load(SeqCst), 3);
    // The backend is back: the next reload replaces the kept value.
    BACKEND_DOWN.store(false, SeqCst);
    RATES_CLOCK.advance(Duration::from_secs(5));
    let fresh = rate("EUR".into()).await.unwrap();
    assert_ne!(fresh, first);
    assert_eq!(RATES.stats().stale_served, 3);
    // A key with nothing kept gets the failure.
    BACKEND_DOWN.store(true, SeqCst);
    assert!(rate("GBP".into()).await.is_err());
    BACKEND_DOWN.store(false, SeqCst);
}

on_manual_clock!(SYNC_CLOCK, SYNC);
static SYNC_PANICS: AtomicBool = AtomicBool::new(false);

#[cached(ttl = 10, stale = 100, cache = SYNC)]
fn config_value(name: String) -> String {
    if SYNC_PANICS.load(SeqCst) {
        panic!("the config service client panicked");
    }
    format!("{name}=on")
}

#[test]
fn a_plain_fn_serves_its_kept_value_when_the_body_panics() {
    assert_eq!(config_value("feature".into()), "feature=on");
    SYNC_CLOCK.advance(Duration::from_secs(10));
    SYNC_PANICS.store(true, SeqCst);
    assert_eq!(config_value("feature".into()), "feature=on");
    assert_eq!(SYNC.stats().stale_served, 1);
    // Past ttl + stale the panic goes on.
    SYNC_CLOCK.advance(Duration::from_secs(100));
    let panicked = std::panic::catch_unwind(|| config_value("feature".into()));
    assert!(panicked.is_err());
    SYNC_PANICS.store(false, SeqCst);
}

on_manual_clock!(JITTER_CLOCK, JITTERED, 2000);

static SQUARE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 100, jitter = 0.5, cache = JITTERED)]
fn square(n: u64) -> u64 {
    SQUARE_RUNS.fetch_add(1, SeqCst);
    n * n
}

#[test]
fn jitter_spreads_the_expiry_of_one_fn() {
    // How many of the 1000 calls ran their body (had expired).
    let reloads = || {
        let before = SQUARE_RUNS.load(SeqCst);
        for n in 0..1000 {
            assert_eq!(square(n), n * n);
        }
        SQUARE_RUNS.load(SeqCst) - before
    };
    assert_eq!(reloads(), 1000);
    JITTER_CLOCK.advance(Duration::from_secs(50) - Duration::from_nanos(1));
    assert_eq!(reloads(), 0, "none expires before ttl * (1 - jitter)");
    JITTER_CLOCK.advance(Duration::from_secs(25));
    let expired = reloads();
    assert!(
        (300..700).contains(&expired),
        "{expired} of 1000 expired at 75 s"
    );
}
