//! `#[cached]` on plain (blocking) `fn`s: the same keys, TTL, bound,
//! statistics and companions as async fns, all of them blocking, and a
//! blocking single flight.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use memo_runtime::{cached, invalidate};

mod common;

static SQUARE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, max_size = 2)]
fn square(n: u64) -> u64 {
    SQUARE_RUNS.fetch_add(1, SeqCst);
    n * n
}

#[test]
fn a_sync_function_is_memoized_with_blocking_companions() {
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    assert_eq!(SQUARE_RUNS.load(SeqCst), 1);
    let stats = square::stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));

    // Companions are plain functions: no future to await.
    let removed: bool = square::invalidate(3);
    assert!(removed);
    assert!(!invalidate!(square, 3));
    assert_eq!(square::uncached(5), 25);
    assert!(square::cache().is_empty());
    assert_eq!(square::key(4), square::key(4));

    // The bound holds.
    square(1);
    square(2);
    square(3);
    assert_eq!(square::cache().len(), 2);
    square::clear();
    assert!(square::cache().is_empty());
}

static PARSE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn parse(text: &str) -> Result<u16, String> {
    PARSE_RUNS.fetch_add(1, SeqCst);
    text.parse().map_err(|_| format!("not a port: {text}"))
}

#[test]
fn only_ok_results_are_stored() {
    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(PARSE_RUNS.load(SeqCst), 2);
    assert_eq!(parse("80"), Ok(80));
    assert_eq!(parse(&String::from("80")), Ok(80));
    assert_eq!(PARSE_RUNS.load(SeqCst), 3);
}

on_manual_clock!(SHORT_CLOCK, SHORT_CACHE);

#[cached(cache = SHORT_CACHE, ttl = 0.05)]
fn short_lived(n: u32) -> u32 {
    n
}

#[test]
fn entries_of_sync_functions_expire() {
    short_lived(1);
    assert!(!short_lived::cache().is_empty());
    SHORT_CLOCK.advance(Duration::from_millis(50));
    short_lived(1);
    assert_eq!(short_lived::stats().misses, 2);
}

static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn slow(n: u32) -> u32 {
    SLOW_RUNS.fetch_add(1, SeqCst);
    // Hold the load until every other thread waits on it.
    while slow::cache().waiters_in_flight() < THREADS - 1 {
        thread::yield_now();
    }
    n + 1
}

const THREADS: usize = 8;

#[test]
fn concurrent_threads_with_one_key_run_the_body_once() {
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                slow(7)
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 8);
    }
    assert_eq!(SLOW_RUNS.load(SeqCst), 1);
}

static FLAKY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn flaky(n: u32) -> u32 {
    // The first run waits for a second caller, then panics; the waiter
    // takes over and runs the body itself.
    if FLAKY_RUNS.fetch_add(1, SeqCst) == 0 {
        while flaky::cache().waiters_in_flight() < 1 {
            thread::yield_now();
        }
        panic!("the first load fails");
    }
    n * 10
}

#[test]
fn a_panicking_body_poisons_nothing_and_a_waiter_takes_over() {
    let first = thread::spawn(|| flaky(1));
    let second = thread::spawn(|| {
        while flaky::cache().loads_in_flight() < 1 {
            thread::yield_now();
        }
        flaky(1)
    });
    assert!(first.join().is_err());
    assert_eq!(second.join().unwrap(), 10);
    assert_eq!(FLAKY_RUNS.load(SeqCst), 2);
    // The value the waiter loaded was stored; later calls hit.
    assert_eq!(flaky(1), 10);
    assert_eq!(FLAKY_RUNS.load(SeqCst), 2);
}

struct Config {
    base: u32,
}

impl Config {
    #[cached(skip(self))]
    fn scaled(&self, n: u32) -> u32 {
        self.base * n
    }
}

#[test]
fn sync_methods_get_blocking_associated_companions() {
    let config = Config { base: 3 };
    assert_eq!(config.scaled(2), 6);
    assert_eq!(Config { base: 100 }.scaled(2), 6);
    assert!(Config::scaled_invalidate(2));
    assert!(!invalidate!(Config::scaled, 2));
    Config::scaled_clear();
}
