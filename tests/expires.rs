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
