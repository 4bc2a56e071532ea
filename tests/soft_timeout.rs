//! `#[cached(timeout = .., stale = ..)]`: when a reload of an expired key
//! takes longer than the soft timeout, the caller gets the kept value and
//! the reload goes on, storing its value when it lands; callers arriving
//! while it runs get the kept value at once. The bodies here are held on a
//! `Notify`, so "longer than the timeout" is certain, not timed; the TTLs run
//! on manual clocks.

mod common;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use memo_runtime::{Source, cached};
use tokio::sync::Notify;

const PATIENCE: Duration = Duration::from_secs(10);

on_manual_clock!(CLOCK, QUOTES);
static HOLD: AtomicBool = AtomicBool::new(false);
static RELEASE: LazyLock<Notify> = LazyLock::new(Notify::new);
static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, stale = 600, timeout = 0.2, cache = QUOTES)]
async fn quote(symbol: String) -> Result<usize, String> {
    let run = RUNS.fetch_add(1, SeqCst) + 1;
    if HOLD.load(SeqCst) {
        RELEASE.notified().await;
    }
    Ok(symbol.len() * 100 + run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reload_is_answered_by_the_kept_value_and_lands_later() {
    let first = quote("ACME".into()).await.unwrap();
    assert_eq!(first, 401);
    CLOCK.advance(Duration::from_secs(60));

    // A fast reload lands within the timeout: its value.
    let second = quote("ACME".into()).await.unwrap();
    assert_eq!(second, 402);
    CLOCK.advance(Duration::from_secs(60));

    // A reload held past the timeout: the kept value; the reload goes on.
    HOLD.store(true, SeqCst);
    assert_eq!(quote("ACME".into()).await, Ok(second));
    assert_eq!(QUOTES.stats().refreshes, 1, "a reload outlived the timeout");
    // While it runs, another caller gets the kept value at once.
    let started = Instant::now();
    assert_eq!(quote("ACME".into()).await, Ok(second));
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "it did not wait"
    );
    assert_eq!(RUNS.load(SeqCst), 3, "one reload for both");
    assert_eq!(QUOTES.stats().stale_served, 2);

    HOLD.store(false, SeqCst);
    RELEASE.notify_one();
    let waiting = Instant::now();
    loop {
        let (value, source) = quote::lookup("ACME".into()).await;
        if value == Ok(403) {
            assert_eq!(source, Source::Hit, "stored by the reload that landed");
            break;
        }
        assert!(waiting.elapsed() < PATIENCE, "the reload never landed");
        tokio::task::yield_now().await;
    }
}

static FIRST_RELEASE: LazyLock<Notify> = LazyLock::new(Notify::new);

#[cached(ttl = 60, stale = 600, timeout = 0.2, cache = QUOTES)]
async fn first_quote(symbol: String) -> usize {
    FIRST_RELEASE.notified().await;
    symbol.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_kept_value_the_caller_waits_for_its_load() {
    // Never loaded: nothing is kept, so the soft timeout does not apply.
    let call = tokio::spawn(first_quote::lookup("NEW".into()));
    // Three times the soft timeout: the measured thing is that it waits.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!call.is_finished(), "it gave up although nothing was kept");
    FIRST_RELEASE.notify_one();
    assert_eq!(call.await.unwrap(), (3, Source::Loaded));
}

on_manual_clock!(SYNC_CLOCK, SYNC);
static SYNC_HOLD: AtomicBool = AtomicBool::new(false);
static SYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 10, stale = 100, timeout = 0.2, cache = SYNC)]
fn report(name: String) -> String {
    let run = SYNC_RUNS.fetch_add(1, SeqCst) + 1;
    while SYNC_HOLD.load(SeqCst) {
        std::thread::yield_now();
    }
    format!("{name} #{run}")
}

#[test]
fn a_plain_fn_gets_the_kept_value_while_its_reload_runs_on_a_thread() {
    assert_eq!(report("q1".into()), "q1 #1");
    SYNC_CLOCK.advance(Duration::from_secs(10));
    SYNC_HOLD.store(true, SeqCst);
    assert_eq!(
        report("q1".into()),
        "q1 #1",
        "the kept value after the timeout"
    );
    SYNC_HOLD.store(false, SeqCst);
    let started = Instant::now();
    while report("q1".into()) != "q1 #2" {
        assert!(started.elapsed() < PATIENCE, "the reload never landed");
        std::thread::yield_now();
    }
    assert_eq!(SYNC_RUNS.load(SeqCst), 2);
}

on_manual_clock!(FORCED_CLOCK, FORCED);
static FORCED_HOLD: AtomicBool = AtomicBool::new(false);
static FORCED_RELEASE: LazyLock<Notify> = LazyLock::new(Notify::new);
static FORCED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, stale = 600, timeout = 0.2, cache = FORCED)]
async fn forced(n: u32) -> usize {
    let run = FORCED_RUNS.fetch_add(1, SeqCst) + 1;
    if FORCED_HOLD.load(SeqCst) {
        FORCED_RELEASE.notified().await;
    }
    n as usize * 10 + run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_companion_waits_for_the_body_despite_the_soft_timeout() {
    assert_eq!(forced(1).await, 11);
    FORCED_HOLD.store(true, SeqCst);
    let refreshed = tokio::spawn(forced::refresh(1));
    // Far past the soft timeout: the companion still waits for its body.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!refreshed.is_finished(), "it returned the kept value");
    FORCED_HOLD.store(false, SeqCst);
    FORCED_RELEASE.notify_one();
    assert_eq!(refreshed.await.unwrap(), 12);
    assert_eq!(forced(1).await, 12, "and stored");
    assert_eq!(FORCED_CLOCK.elapsed(), Duration::ZERO);
}
