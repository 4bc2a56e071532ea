//! `#[cached(expires = true)]`: each value says how long it may be cached
//! (`memo_runtime::Expiry`), as an OAuth token's `expires_in` does; `None`
//! falls back on the function's `ttl`. On the manual clock of each cache.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::{Expiry, cached};

#[derive(Clone, Debug, PartialEq)]
struct Token {
    serial: usize,
    expires_in: Option<u64>,
}

impl Expiry for Token {
    fn expires_after(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }
}

on_manual_clock!(TOKENS_CLOCK, TOKENS);
static TOKEN_RUNS: AtomicUsize = AtomicUsize::new(0);
static EXPIRES_IN: AtomicU64 = AtomicU64::new(120);

#[cached(ttl = 3600, expires = true, cache = TOKENS)]
async fn token(scope: String) -> Result<Token, String> {
    let serial = TOKEN_RUNS.fetch_add(1, SeqCst) + 1;
    if scope.is_empty() {
        return Err("no scope".into());
    }
    let expires_in = match EXPIRES_IN.load(SeqCst) {
        u64::MAX => None,
        secs => Some(secs),
    };
    Ok(Token { serial, expires_in })
}

#[tokio::test]
async fn each_value_lives_as_long_as_it_says() {
    let first = token("read".into()).await.unwrap();
    assert_eq!(first.expires_in, Some(120));
    TOKENS_CLOCK.advance(Duration::from_secs(119));
    assert_eq!(
        token("read".into()).await.unwrap(),
        first,
        "a hit before 120 s"
    );
    TOKENS_CLOCK.advance(Duration::from_secs(1));
    // Expired at 120 s, not at the function's hour.
    EXPIRES_IN.store(10, SeqCst);
    let second = token("read".into()).await.unwrap();
    assert_ne!(second.serial, first.serial);
    TOKENS_CLOCK.advance(Duration::from_secs(10));
    // `None`: the function's TTL.
    EXPIRES_IN.store(u64::MAX, SeqCst);
    let third = token("read".into()).await.unwrap();
    assert_eq!(third.expires_in, None);
    TOKENS_CLOCK.advance(Duration::from_secs(3599));
    assert_eq!(token("read".into()).await.unwrap(), third);
    // Zero: returned, but not stored.
    TOKENS_CLOCK.advance(Duration::from_secs(1));
    EXPIRES_IN.store(0, SeqCst);
    let fourth = token("read".into()).await.unwrap();
    assert_eq!(
        token("read".into()).await.unwrap().serial,
        fourth.serial + 1
    );
    // An `Err` is not stored, as always.
    assert!(token(String::new()).await.is_err());
    assert!(token(String::new()).await.is_err());
    EXPIRES_IN.store(120, SeqCst);
}

on_manual_clock!(DNS_CLOCK, DNS);

#[derive(Clone, Debug, PartialEq)]
struct Answer(u64);

impl Expiry for Answer {
    fn expires_after(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.0))
    }
}

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

#[cached(expires = true, cache_none = false, cache = DNS)]
fn resolve(ttl: u64) -> Option<Answer> {
    LOOKUPS.fetch_add(1, SeqCst);
    (ttl > 0).then_some(Answer(ttl))
}

#[test]
fn a_plain_fn_returning_option_keeps_some_for_its_own_ttl() {
    assert_eq!(resolve(30), Some(Answer(30)));
    DNS_CLOCK.advance(Duration::from_secs(29));
    assert_eq!(resolve(30), Some(Answer(30)));
    assert_eq!(LOOKUPS.load(SeqCst), 1);
    DNS_CLOCK.advance(Duration::from_secs(1));
    assert_eq!(resolve(30), Some(Answer(30)));
    assert_eq!(LOOKUPS.load(SeqCst), 2);
    assert_eq!(resolve(0), None);
    assert_eq!(resolve(0), None);
    assert_eq!(LOOKUPS.load(SeqCst), 4);
}

on_manual_clock!(GRANTS_CLOCK, GRANTS);
static GRANT_RUNS: AtomicUsize = AtomicUsize::new(0);
static GRANT_EXPIRES_IN: AtomicU64 = AtomicU64::new(120);

#[cached(ttl = 3600, refresh = 60, expires = true, cache = GRANTS)]
async fn grant(scope: String) -> Token {
    let serial = GRANT_RUNS.fetch_add(1, SeqCst) + 1;
    let expires_in = Some(GRANT_EXPIRES_IN.load(SeqCst));
    drop(scope);
    Token { serial, expires_in }
}

/// Calls `f` until its value's serial is `serial`, at most ten seconds.
async fn until_serial<F: Future<Output = Token>>(serial: usize, f: impl Fn() -> F) -> Token {
    let started = std::time::Instant::now();
    loop {
        let value = f().await;
        if value.serial == serial {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never got {serial}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_value_lives_as_long_as_it_says() {
    assert_eq!(grant("read".into()).await.serial, 1);
    GRANTS_CLOCK.advance(Duration::from_secs(60));
    // Due: the old token at once; the new one, 30 s long, behind it.
    GRANT_EXPIRES_IN.store(30, SeqCst);
    assert_eq!(grant("read".into()).await.serial, 1);
    until_serial(2, || grant("read".into())).await;
    GRANTS_CLOCK.advance(Duration::from_secs(29));
    assert_eq!(grant("read".into()).await.serial, 2);
    GRANTS_CLOCK.advance(Duration::from_secs(1));
    // Gone at 30 s, not at the function's hour: a miss loads a third.
    assert_eq!(grant("read".into()).await.serial, 3);
    assert_eq!(GRANTS.stats().refreshes, 1);
}

on_manual_clock!(LEASES_CLOCK, LEASES);
static LEASE_RUNS: AtomicUsize = AtomicUsize::new(0);
static LEASE_EXPIRES_IN: AtomicU64 = AtomicU64::new(10);
static LEASE_HELD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LEASE_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[cached(ttl = 3600, stale = 3600, timeout = 0.05, expires = true, cache = LEASES)]
async fn lease(name: String) -> Token {
    let serial = LEASE_RUNS.fetch_add(1, SeqCst) + 1;
    if LEASE_HELD.load(SeqCst) {
        LEASE_GATE.notified().await;
    }
    drop(name);
    Token {
        serial,
        expires_in: Some(LEASE_EXPIRES_IN.load(SeqCst)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_past_a_soft_timeout_stores_its_value_for_as_long_as_it_says() {
    assert_eq!(lease("db".into()).await.serial, 1);
    LEASES_CLOCK.advance(Duration::from_secs(10));
    // Expired and kept: the held reload outlives the soft timeout.
    LEASE_HELD.store(true, SeqCst);
    LEASE_EXPIRES_IN.store(20, SeqCst);
    assert_eq!(lease("db".into()).await.serial, 1, "the kept value");
    LEASE_HELD.store(false, SeqCst);
    LEASE_GATE.notify_one();
    until_serial(2, || lease("db".into())).await;
    LEASES_CLOCK.advance(Duration::from_secs(19));
    assert_eq!(lease("db".into()).await.serial, 2);
    LEASES_CLOCK.advance(Duration::from_secs(1));
    // Expired at 20 s, not at the function's hour: reloaded (in time).
    assert_eq!(lease("db".into()).await.serial, 3);
    // The callers answered while the reload was held got the kept value.
    assert!(LEASES.stats().stale_served >= 1);
}

on_manual_clock!(PASSES_CLOCK, PASSES);
static PASS_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 3600, refresh = 60, expires = true, cache = PASSES)]
async fn pass(gate: u32) -> Token {
    let serial = PASS_RUNS.fetch_add(1, SeqCst) + 1;
    // The first pass lasts two minutes; every later one says zero.
    let expires_in = Some(if serial == 1 { 120 } else { 0 });
    let _ = gate;
    Token { serial, expires_in }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_value_says_zero_is_not_retried_on_every_hit() {
    assert_eq!(pass(1).await.serial, 1);
    PASSES_CLOCK.advance(Duration::from_secs(60));
    // Due: one refresh, whose value is not kept (it says zero)...
    assert_eq!(pass(1).await.serial, 1);
    let started = std::time::Instant::now();
    while PASSES.stats().refreshes == 0 || PASSES.loads_in_flight() > 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "no refresh");
        tokio::task::yield_now().await;
    }
    // ...and the old pass is not due again until `stale_retry` (30 s).
    for _ in 0..20 {
        assert_eq!(pass(1).await.serial, 1);
    }
    assert_eq!(PASS_RUNS.load(SeqCst), 2, "one refresh, not one per hit");
}
