//! The attribute tests of the `cached` crate (its `tests/cached.rs`, from the
//! 0.x `cached!` macros to the 2.x `#[cached]` and `#[once]` attributes),
//! ported to memo's syntax: what users moving from `cached` rely on. Each test
//! keeps the name of the one it ports, so the two suites can be read side by
//! side.
//!
//! How `cached`'s spellings map:
//! - `#[cached(size = N)]` / `max_size = N` -> `max_size = N`;
//!   `time = N` / `ttl = N` -> `ttl = N` (seconds, floats allowed).
//! - `key = "T", convert = "{ expr }"` -> `key = expr` (no code in strings).
//! - `#[once]` (one value whatever the arguments) -> `key = ()`.
//! - `cache_none = true` is memo's default; `cached`'s default is
//!   `cache_none = false` here.
//! - `sync_writes = true` / `"by_key"` is always on: single flight per key.
//! - `CACHE_STATIC.lock().cache_hits()` -> `f::stats().hits`,
//!   `cache_size()` -> `f::cache().len()`.
//!
//! - `with_cached_flag = true` and `cached::Return<T>` -> the `f::lookup(..)`
//!   companion, which returns `(T, Source)`: the return type stays `T`.
//! - `refresh = true` (every hit renews the TTL) -> `idle = N` (time-to-idle)
//!   under a long `ttl`.
//! - `Expires::is_expired(&self)` (asked at every read) ->
//!   `Expiry::expires_after(&self)` (asked once, when stored): a value that
//!   says it has expired is one that lives zero seconds, so it is not
//!   stored.
//!
//! Not ported, with the reason: `ty`/`create`/`unsync_reads` choose a store
//! implementation, which memo does not expose; the disk and Redis stores are
//! not in-memory attributes.
//! Where `cached` slept past a TTL, the port's function stores in a cache
//! of its own on a `ManualClock`, which the test advances instead.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use memo_runtime::cached;

mod common;

/// The TTL of the ported timed functions (`cached` used 1 to 3 s).
const TTL: Duration = Duration::from_millis(150);

// ---- 0.x: `cached!` and `cached_key!` ------------------------------------

#[cached(max_size = 100)]
fn fib0(n: u32) -> u32 {
    if n == 0 || n == 1 {
        return n;
    }
    fib0(n - 1) + fib0(n - 2)
}

#[test]
fn test_unbound_cache() {
    // Recursion with other arguments runs inside the outer call's load.
    assert_eq!(fib0(20), 6765);
    assert_eq!(fib0::cache().len(), 21);
    assert_eq!(fib0::stats().misses, 21);
}

#[cached(max_size = 3)]
fn fib1(n: u32) -> u32 {
    if n == 0 || n == 1 {
        return n;
    }
    fib1(n - 1) + fib1(n - 2)
}

#[test]
fn test_sized_cache() {
    assert_eq!(fib1(20), 6765);
    assert_eq!(fib1::cache().len(), 3);
}

static TIMED_RUNS: AtomicUsize = AtomicUsize::new(0);

on_manual_clock!(TIMED_CLOCK, TIMED_CACHE, 5);

#[cached(cache = TIMED_CACHE, ttl = 0.15)]
fn timed(n: u32) -> u32 {
    TIMED_RUNS.fetch_add(1, SeqCst);
    n
}

#[test]
fn test_timed_cache() {
    timed(1);
    timed(1);
    assert_eq!((timed::stats().misses, timed::stats().hits), (1, 1));
    TIMED_CLOCK.advance(TTL);
    timed(1);
    assert_eq!((timed::stats().misses, timed::stats().hits), (2, 1));
    assert_eq!(TIMED_RUNS.load(SeqCst), 2);
}

#[cached(max_size = 1)]
fn string_1(a: String, b: String) -> String {
    a + &b
}

#[test]
fn test_string_cache() {
    assert_eq!(string_1("a".into(), "b".into()), "ab");
    assert_eq!(string_1::cache().len(), 1);
    // A second pair evicts the first: the bound is 1.
    assert_eq!(string_1("c".into(), "d".into()), "cd");
    assert_eq!(string_1::cache().len(), 1);
    assert_eq!(string_1("a".into(), "b".into()), "ab");
    assert_eq!(string_1::stats().misses, 3);
}

on_manual_clock!(TIMED_2_CLOCK, TIMED_2_CACHE, 5);

#[cached(cache = TIMED_2_CACHE, ttl = 0.15, key = n)]
fn timed_2(n: u32) -> u32 {
    n
}

#[test]
fn test_timed_cache_key() {
    timed_2(1);
    timed_2(1);
    assert_eq!((timed_2::stats().misses, timed_2::stats().hits), (1, 1));
    TIMED_2_CLOCK.advance(TTL);
    timed_2(1);
    assert_eq!((timed_2::stats().misses, timed_2::stats().hits), (2, 1));
}

static SIZED_KEY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(max_size = 2, key = format!("{a}{b}"))]
fn sized_key(a: &str, b: &str) -> usize {
    SIZED_KEY_RUNS.fetch_add(1, SeqCst);
    a.len() + b.len()
}

#[test]
fn test_sized_cache_key() {
    assert_eq!(sized_key("a", "b"), 2);
    sized_key("a", "b");
    assert_eq!((sized_key::stats().misses, sized_key::stats().hits), (1, 1));
    sized_key("a", "b");
    assert_eq!(sized_key::stats().hits, 2);
    // The key is the concatenation, exactly as `cached_key!` wrote it: "ab"
    // split differently is the same key.
    assert_eq!(sized_key("", "ab"), 2);
    assert_eq!(sized_key::stats().hits, 3);
    assert_eq!(SIZED_KEY_RUNS.load(SeqCst), 1);
}

// ---- 2.x: `#[cached]` -----------------------------------------------------

/// Not `Clone`: only the `Ok` type of a cached `Result` has to be.
#[derive(Debug)]
struct NoClone {}

#[cached]
fn proc_cached_result(n: u32) -> Result<Vec<u32>, NoClone> {
    if n < 5 { Ok(vec![n]) } else { Err(NoClone {}) }
}

#[test]
fn test_proc_cached_result() {
    assert!(proc_cached_result(2).is_ok());
    assert!(proc_cached_result(4).is_ok());
    assert!(proc_cached_result(6).is_err());
    assert!(proc_cached_result(6).is_err());
    assert!(proc_cached_result(2).is_ok());
    assert!(proc_cached_result(4).is_ok());
    assert_eq!(proc_cached_result::cache().len(), 2);
    let stats = proc_cached_result::stats();
    assert_eq!((stats.hits, stats.misses), (2, 4));
}

// `cached` stores no `None` by default; memo does, so the port asks for
// `cached`'s behaviour.
#[cached(cache_none = false)]
fn proc_cached_option(n: u32) -> Option<Vec<u32>> {
    if n < 5 { Some(vec![n]) } else { None }
}

#[test]
fn test_proc_cached_option() {
    assert!(proc_cached_option(2).is_some());
    assert!(proc_cached_option(4).is_some());
    assert!(proc_cached_option(1).is_some());
    assert!(proc_cached_option(6).is_none());
    assert!(proc_cached_option(6).is_none());
    assert!(proc_cached_option(2).is_some());
    assert!(proc_cached_option(1).is_some());
    assert!(proc_cached_option(4).is_some());
    assert_eq!(proc_cached_option::cache().len(), 3);
    let stats = proc_cached_option::stats();
    assert_eq!((stats.hits, stats.misses), (3, 5));
}

static CACHED_CACHE_ERR_TRUE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cached(cache_err = true)]
fn cached_cache_err_true(n: u32) -> Result<u32, u32> {
    CACHED_CACHE_ERR_TRUE_CALLS.fetch_add(1, SeqCst);
    Err(n)
}

#[test]
fn test_cached_cache_err_true_caches_err() {
    assert_eq!(cached_cache_err_true(7), Err(7));
    assert_eq!(cached_cache_err_true(7), Err(7));
    assert_eq!(CACHED_CACHE_ERR_TRUE_CALLS.load(SeqCst), 1);
}

static CACHED_CACHE_NONE_TRUE_CALLS: AtomicUsize = AtomicUsize::new(0);

// `cache_none = true` in `cached`; the default here.
#[cached]
fn cached_cache_none_true(n: u32) -> Option<u32> {
    CACHED_CACHE_NONE_TRUE_CALLS.fetch_add(1, SeqCst);
    if n == 0 { None } else { Some(n) }
}

#[test]
fn test_cached_cache_none_true_caches_none() {
    assert_eq!(cached_cache_none_true(0), None);
    assert_eq!(cached_cache_none_true(0), None);
    assert_eq!(CACHED_CACHE_NONE_TRUE_CALLS.load(SeqCst), 1);
}

#[cached(max_size = 2)]
fn cached_smartstring(s: String) -> String {
    if s == "very stringy" {
        String::from("equal")
    } else {
        String::from("not equal")
    }
}

#[test]
fn test_cached_smartstring() {
    let string = String::from("very stringy");
    assert_eq!("equal", cached_smartstring(string.clone()));
    let stats = cached_smartstring::stats();
    assert_eq!((stats.hits, stats.misses), (0, 1));

    assert_eq!("equal", cached_smartstring(string.clone()));
    let stats = cached_smartstring::stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));

    assert_eq!("not equal", cached_smartstring("also stringy".into()));
    let stats = cached_smartstring::stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
}

#[cached(max_size = 2, key = s.to_owned())]
fn cached_smartstring_from_str(s: &str) -> bool {
    s == "true"
}

#[test]
fn test_cached_smartstring_from_str() {
    assert!(cached_smartstring_from_str("true"));
    let stats = cached_smartstring_from_str::stats();
    assert_eq!((stats.hits, stats.misses), (0, 1));

    assert!(cached_smartstring_from_str("true"));
    let stats = cached_smartstring_from_str::stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));

    assert!(!cached_smartstring_from_str("false"));
    let stats = cached_smartstring_from_str::stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
}

#[cached(max_size = 2)]
fn cached_max_size_alias(n: u32) -> u32 {
    n * 2
}

#[test]
fn test_cached_max_size_alias_sets_bound() {
    assert_eq!(cached_max_size_alias(1), 2);
    assert_eq!(cached_max_size_alias(2), 4);
    assert_eq!(cached_max_size_alias(3), 6); // evicts the oldest entry
    assert_eq!(cached_max_size_alias::cache().max_size(), 2);
    assert_eq!(cached_max_size_alias::cache().len(), 2);
    assert_eq!(cached_max_size_alias::stats().evictions, 1);
}

#[cached]
fn mutable_args(mut a: i32, mut b: i32) -> (i32, i32) {
    a += 1;
    b += 1;
    (a, b)
}

#[test]
fn test_mutable_args() {
    assert_eq!((2, 2), mutable_args(1, 1));
    assert_eq!((2, 2), mutable_args(1, 1));
    assert_eq!(mutable_args::stats().hits, 1);
}

#[cached]
fn mutable_args_str(mut a: String) -> String {
    a.push_str("-ok");
    a
}

#[test]
fn test_mutable_args_str() {
    assert_eq!("a-ok", mutable_args_str(String::from("a")));
    assert_eq!("a-ok", mutable_args_str(String::from("a")));
    assert_eq!(mutable_args_str::stats().hits, 1);
}

// ---- 2.x: `#[once]`, spelled `key = ()` ---------------------------------

#[cached(key = ())]
fn mutable_args_once(mut a: i32, mut b: i32) -> (i32, i32) {
    a += 1;
    b += 1;
    (a, b)
}

#[test]
fn test_mutable_args_once() {
    assert_eq!((2, 2), mutable_args_once(1, 1));
    assert_eq!((2, 2), mutable_args_once(1, 1));
    assert_eq!((2, 2), mutable_args_once(5, 6));
}

#[cached(key = ())]
fn once_for_priming() -> bool {
    true
}

#[test]
fn test_once_for_priming() {
    // `cached` has `*_prime_cache()`; a call primes the entry here.
    assert!(once_for_priming());
    assert_eq!(once_for_priming::cache().len(), 1);
    assert!(once_for_priming::invalidate());
    assert!(once_for_priming::cache().is_empty());
}

on_manual_clock!(ONCE_CLOCK, ONCE_CACHE, 1000);

#[cached(cache = ONCE_CACHE, ttl = 0.15, key = ())]
fn only_cached_once_per_second(s: String) -> Vec<String> {
    vec![s]
}

#[test]
fn test_only_cached_once_per_second() {
    let a = only_cached_once_per_second("a".to_string());
    let b = only_cached_once_per_second("b".to_string());
    assert_eq!(a, b);
    ONCE_CLOCK.advance(TTL);
    let b = only_cached_once_per_second("b".to_string());
    assert_eq!(vec!["b".to_string()], b);
}

on_manual_clock!(ONCE_RESULT_CLOCK, ONCE_RESULT_CACHE, 1000);

#[cached(cache = ONCE_RESULT_CACHE, ttl = 0.15, key = ())]
fn only_cached_result_once_per_second(s: String, error: bool) -> Result<Vec<String>, u32> {
    if error { Err(1) } else { Ok(vec![s]) }
}

#[test]
fn test_only_cached_result_once_per_second() {
    assert!(only_cached_result_once_per_second("z".to_string(), true).is_err());
    let a = only_cached_result_once_per_second("a".to_string(), false).unwrap();
    let b = only_cached_result_once_per_second("b".to_string(), false).unwrap();
    assert_eq!(a, b);
    ONCE_RESULT_CLOCK.advance(TTL);
    let b = only_cached_result_once_per_second("b".to_string(), false).unwrap();
    assert_eq!(vec!["b".to_string()], b);
}

on_manual_clock!(ONCE_OPTION_CLOCK, ONCE_OPTION_CACHE, 1000);

#[cached(cache = ONCE_OPTION_CACHE, ttl = 0.15, key = (), cache_none = false)]
fn only_cached_option_once_per_second(s: String, none: bool) -> Option<Vec<String>> {
    if none { None } else { Some(vec![s]) }
}

#[test]
fn test_only_cached_option_once_per_second() {
    assert!(only_cached_option_once_per_second("z".to_string(), true).is_none());
    let a = only_cached_option_once_per_second("a".to_string(), false).unwrap();
    let b = only_cached_option_once_per_second("b".to_string(), false).unwrap();
    assert_eq!(a, b);
    ONCE_OPTION_CLOCK.advance(TTL);
    let b = only_cached_option_once_per_second("b".to_string(), false).unwrap();
    assert_eq!(vec!["b".to_string()], b);
}

#[cached(cache_err = true, key = ())]
fn once_cache_err_true(code: u32) -> Result<u32, u32> {
    Err(code)
}

#[test]
fn test_once_cache_err_true_caches_err() {
    assert_eq!(once_cache_err_true(1), Err(1));
    assert_eq!(once_cache_err_true(2), Err(1));
}

// ---- 2.x: `sync_writes`, always on here ---------------------------------

static SYNC_WRITES_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = 1u32)]
fn cached_sync_writes(s: String) -> Vec<String> {
    SYNC_WRITES_RUNS.fetch_add(1, SeqCst);
    // Hold the load until both other threads wait on it (`cached` slept 1 s).
    while cached_sync_writes::cache().waiters_in_flight() < 2 {
        thread::yield_now();
    }
    vec![s]
}

#[test]
fn test_cached_sync_writes() {
    let a = thread::spawn(|| cached_sync_writes("a".to_string()));
    while cached_sync_writes::cache().loads_in_flight() < 1 {
        thread::yield_now();
    }
    let b = thread::spawn(|| cached_sync_writes("b".to_string()));
    let c = thread::spawn(|| cached_sync_writes("c".to_string()));
    let a = a.join().unwrap();
    let b = b.join().unwrap();
    let c = c.join().unwrap();
    assert_eq!(a, vec!["a".to_string()]);
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(SYNC_WRITES_RUNS.load(SeqCst), 1);
}

#[cached(ttl = 60, key = 2u32)]
fn cached_sync_writes_true(s: String) -> Vec<String> {
    vec![s]
}

#[test]
fn test_cached_sync_writes_true() {
    let a = cached_sync_writes_true("a".to_string());
    let b = cached_sync_writes_true("b".to_string());
    assert_eq!(a, b);
}

/// Three keys, three threads: each body waits until all three are running at
/// once, which only happens if loads of different keys never wait on each
/// other (`cached`'s `sync_writes = "by_key"`, timed there, proven here).
static BY_KEY_STARTED: Barrier = Barrier::new(3);

#[cached(ttl = 60, key = s.clone())]
fn cached_sync_writes_by_key(s: String) -> Vec<String> {
    BY_KEY_STARTED.wait();
    vec![s]
}

#[test]
fn test_cached_sync_writes_by_key() {
    let handles: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|s| thread::spawn(move || cached_sync_writes_by_key(s.to_string())))
        .collect();
    for (handle, s) in handles.into_iter().zip(["a", "b", "c"]) {
        assert_eq!(handle.join().unwrap(), vec![s.to_string()]);
    }
    assert_eq!(cached_sync_writes_by_key::cache().len(), 3);
}

// ---- 2.x: async tests -------------------------------------------------------

#[cached(key = ())]
async fn only_cached_result_once_a(s: String, error: bool) -> Result<Vec<String>, u32> {
    if error { Err(1) } else { Ok(vec![s]) }
}

#[tokio::test]
async fn test_only_cached_result_once_a() {
    assert!(
        only_cached_result_once_a("z".to_string(), true)
            .await
            .is_err()
    );
    let a = only_cached_result_once_a("a".to_string(), false)
        .await
        .unwrap();
    let b = only_cached_result_once_a("b".to_string(), false)
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, vec!["a".to_string()]);
}

#[cached(key = (), cache_none = false)]
async fn only_cached_option_once_a(s: String, none: bool) -> Option<Vec<String>> {
    if none { None } else { Some(vec![s]) }
}

#[tokio::test]
async fn test_only_cached_option_once_a() {
    assert!(
        only_cached_option_once_a("z".to_string(), true)
            .await
            .is_none()
    );
    let a = only_cached_option_once_a("a".to_string(), false)
        .await
        .unwrap();
    let b = only_cached_option_once_a("b".to_string(), false)
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, vec!["a".to_string()]);
}

#[cached(key = ())]
async fn once_sync_writes_a(s: &tokio::sync::Mutex<String>) -> String {
    let mut guard = s.lock().await;
    let results: String = (*guard).clone();
    *guard = "consumed".to_string();
    results
}

#[tokio::test]
async fn test_once_sync_writes_a() {
    let a_mutex = tokio::sync::Mutex::new("a".to_string());
    let b_mutex = tokio::sync::Mutex::new("b".to_string());
    let fut_a = once_sync_writes_a(&a_mutex);
    let fut_b = once_sync_writes_a(&b_mutex);
    let a = fut_a.await;
    let b = fut_b.await;
    assert_eq!(a, b);
    assert_eq!("a", a);
    // The body ran for a: its string was consumed.
    assert_eq!("consumed", a_mutex.lock().await.to_string());
    // It did not run for b: the first value was served.
    assert_eq!("b", b_mutex.lock().await.to_string());
}

/// `cached`'s async single flight (`sync_writes` on an async fn): concurrent
/// tasks with one key run the body once.
static ASYNC_STAMPEDE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60)]
async fn async_sync_writes(n: u32) -> u32 {
    ASYNC_STAMPEDE_RUNS.fetch_add(1, SeqCst);
    while async_sync_writes::cache().waiters_in_flight() < 7 {
        tokio::task::yield_now().await;
    }
    n * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_async_sync_writes() {
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                async_sync_writes(21).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 42);
    }
    assert_eq!(ASYNC_STAMPEDE_RUNS.load(SeqCst), 1);
}

// ---- freshness: `with_cached_flag`, `refresh = true`, `Expires` ------------

#[cached]
fn cached_return_flag(n: i32) -> i32 {
    n
}

#[test]
fn test_cached_return_flag() {
    use memo_runtime::Source;
    assert_eq!(cached_return_flag::lookup(1), (1, Source::Loaded));
    assert_eq!(cached_return_flag::lookup(1), (1, Source::Hit));
    let stats = cached_return_flag::stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
}

#[cached]
fn cached_return_flag_result(n: i32) -> Result<i32, ()> {
    if n == 10 {
        return Err(());
    }
    Ok(n)
}

#[test]
fn test_cached_return_flag_result() {
    use memo_runtime::Source;
    assert_eq!(
        cached_return_flag_result::lookup(1),
        (Ok(1), Source::Loaded)
    );
    assert_eq!(cached_return_flag_result::lookup(1), (Ok(1), Source::Hit));
    let (failed, _) = cached_return_flag_result::lookup(10);
    assert!(failed.is_err());
    let stats = cached_return_flag_result::stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
}

#[cached(cache_none = false)]
fn cached_return_flag_option(n: i32) -> Option<i32> {
    if n == 10 {
        return None;
    }
    Some(n)
}

#[test]
fn test_cached_return_flag_option() {
    use memo_runtime::Source;
    assert_eq!(
        cached_return_flag_option::lookup(1),
        (Some(1), Source::Loaded)
    );
    assert_eq!(cached_return_flag_option::lookup(1), (Some(1), Source::Hit));
    assert_eq!(cached_return_flag_option::lookup(10).0, None);
    let stats = cached_return_flag_option::stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
}

on_manual_clock!(REFRESH_CLOCK, REFRESH_CACHE);

#[cached(ttl = 3600, idle = 1, key = s.to_owned(), cache = REFRESH_CACHE)]
fn cached_timed_refresh(s: &str) -> bool {
    s == "true"
}

#[test]
fn test_cached_timed_refresh() {
    assert!(cached_timed_refresh("true"));
    assert!(cached_timed_refresh("true"));
    assert_eq!(
        (REFRESH_CACHE.stats().hits, REFRESH_CACHE.stats().misses),
        (1, 1)
    );
    // Three hits 0.5 s apart: each renews the second the entry may idle.
    for _ in 0..3 {
        REFRESH_CLOCK.advance(Duration::from_millis(500));
        assert!(cached_timed_refresh("true"));
    }
    assert_eq!(
        (REFRESH_CACHE.stats().hits, REFRESH_CACHE.stats().misses),
        (4, 1)
    );
    // A full second without a hit: gone.
    REFRESH_CLOCK.advance(Duration::from_secs(1));
    assert!(cached_timed_refresh("true"));
    assert_eq!(REFRESH_CACHE.stats().misses, 2);
}

#[derive(Clone, Debug)]
struct Val {
    v: u32,
    expired: bool,
}

impl memo_runtime::Expiry for Val {
    fn expires_after(&self) -> Option<Duration> {
        // An expired value lives no time at all; a live one the function's.
        self.expired.then_some(Duration::ZERO)
    }
}

static SM_EXPIRES_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(expires = true, key = k)]
fn sm_cached_expires(k: u32, expired: bool) -> Val {
    SM_EXPIRES_RUNS.fetch_add(1, SeqCst);
    Val { v: k, expired }
}

#[test]
fn test_expires_macro_hit_and_miss() {
    let v1 = sm_cached_expires(1, false);
    assert_eq!(v1.v, 1);
    assert!(!v1.expired);
    // A hit: the cached live value, whatever `expired` says now.
    assert!(!sm_cached_expires(1, true).expired);
    let stats = sm_cached_expires::stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
    // An expired value is returned but not kept: the next call runs again.
    assert!(sm_cached_expires(2, true).expired);
    assert!(!sm_cached_expires(2, false).expired);
    assert_eq!(SM_EXPIRES_RUNS.load(SeqCst), 3);
}

#[derive(Clone, Debug)]
struct TtlVal {
    v: u32,
    ttl: Duration,
}

impl memo_runtime::Expiry for TtlVal {
    fn expires_after(&self) -> Option<Duration> {
        Some(self.ttl)
    }
}

#[cached(expires = true, key = k)]
fn dyn_ttl(k: u32, ttl_ms: u64) -> TtlVal {
    TtlVal {
        v: k,
        ttl: Duration::from_millis(ttl_ms),
    }
}

#[test]
fn test_expires_macro_dynamic_ttl_from_arg() {
    assert_eq!(dyn_ttl(1, 0).v, 1);
    assert_eq!(dyn_ttl(2, 60_000).v, 2);
    assert_eq!(dyn_ttl(1, 0).v, 1);
    assert_eq!(dyn_ttl(2, 60_000).v, 2);
    // Only the long-lived key produced a hit.
    assert_eq!(dyn_ttl::stats().hits, 1);
}
