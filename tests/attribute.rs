//! `#[cached]` on free functions: what is cached, under which key, for how
//! long, and what each argument of the attribute changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::{CacheKey, cached};
use serde::Serialize;

mod common;

/// Counts how often a body ran.
struct Runs(AtomicUsize);

impl Runs {
    const fn new() -> Self {
        Runs(AtomicUsize::new(0))
    }
    fn tick(&self) {
        self.0.fetch_add(1, SeqCst);
    }
    fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

static SQUARE_RUNS: Runs = Runs::new();

#[cached]
async fn square(n: u64) -> u64 {
    SQUARE_RUNS.tick();
    n * n
}

#[tokio::test]
async fn equal_arguments_run_the_body_once_and_different_ones_again() {
    assert_eq!(square(3).await, 9);
    assert_eq!(square(3).await, 9);
    assert_eq!(SQUARE_RUNS.get(), 1);
    assert_eq!(square(4).await, 16);
    assert_eq!(SQUARE_RUNS.get(), 2);
    let stats = square::stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
}

static LOOKUP_RUNS: Runs = Runs::new();

#[cached]
async fn lookup(name: &str) -> Option<u32> {
    LOOKUP_RUNS.tick();
    name.parse().ok()
}

#[tokio::test]
async fn a_stored_none_is_a_hit() {
    assert_eq!(lookup("not a number").await, None);
    assert_eq!(lookup("not a number").await, None);
    assert_eq!(LOOKUP_RUNS.get(), 1);
    // `&str` arguments key by text: a `String` with the same text hits.
    assert_eq!(lookup(&String::from("not a number")).await, None);
    assert_eq!(LOOKUP_RUNS.get(), 1);
}

static FALLIBLE_RUNS: Runs = Runs::new();

#[cached]
async fn fallible(n: i32) -> Result<i32, String> {
    FALLIBLE_RUNS.tick();
    if n < 0 {
        Err(format!("{n} is negative"))
    } else {
        Ok(n)
    }
}

#[tokio::test]
async fn results_cache_ok_but_not_err() {
    assert_eq!(fallible(-1).await, Err("-1 is negative".into()));
    assert_eq!(fallible(-1).await, Err("-1 is negative".into()));
    assert_eq!(FALLIBLE_RUNS.get(), 2, "an Err must not be cached");
    assert_eq!(fallible(5).await, Ok(5));
    assert_eq!(fallible(5).await, Ok(5));
    assert_eq!(FALLIBLE_RUNS.get(), 3, "an Ok must be cached");
}

static STICKY_RUNS: Runs = Runs::new();

#[cached(cache_err = true)]
async fn sticky_errors(n: i32) -> Result<i32, String> {
    STICKY_RUNS.tick();
    Err(format!("no {n}"))
}

#[tokio::test]
async fn cache_err_caches_errors_too() {
    assert!(sticky_errors(1).await.is_err());
    assert!(sticky_errors(1).await.is_err());
    assert_eq!(STICKY_RUNS.get(), 1);
}

type ApiResult<T> = Result<T, String>;
static ALIAS_RUNS: Runs = Runs::new();

// `ApiResult` hides the `Result`; `cache_err = false` says it is one.
#[cached(cache_err = false)]
async fn through_alias(fail: bool) -> ApiResult<u8> {
    ALIAS_RUNS.tick();
    if fail { Err("failed".into()) } else { Ok(1) }
}

#[tokio::test]
async fn cache_err_false_marks_an_aliased_result() {
    assert!(through_alias(true).await.is_err());
    assert!(through_alias(true).await.is_err());
    assert_eq!(ALIAS_RUNS.get(), 2);
    assert_eq!(through_alias(false).await, Ok(1));
    assert_eq!(through_alias(false).await, Ok(1));
    assert_eq!(ALIAS_RUNS.get(), 3);
}

static SHORT_RUNS: Runs = Runs::new();

// Its own cache on its own clock, so that time passes when the test says.
on_manual_clock!(SHORT_CLOCK, SHORT_CACHE);

#[cached(cache = SHORT_CACHE, ttl = 0.3)]
async fn short_lived(n: u8) -> u8 {
    SHORT_RUNS.tick();
    n
}

#[tokio::test]
async fn ttl_expires_entries() {
    short_lived(1).await;
    short_lived(1).await;
    assert_eq!(SHORT_RUNS.get(), 1);
    SHORT_CLOCK.advance(Duration::from_millis(299));
    short_lived(1).await;
    assert_eq!(SHORT_RUNS.get(), 1, "0.299 s into a 0.3 s TTL: a hit");
    SHORT_CLOCK.advance(Duration::from_millis(1));
    short_lived(1).await;
    assert_eq!(SHORT_RUNS.get(), 2, "at 0.3 s: expired");
}

#[cached(max_size = 3)]
async fn bounded(n: u32) -> u32 {
    n
}

#[tokio::test]
async fn max_size_bounds_the_function_cache() {
    for n in 0..10 {
        bounded(n).await;
        assert!(bounded::cache().len() <= 3);
    }
    assert_eq!(bounded::cache().max_size(), 3);
    assert_eq!(bounded::stats().evictions, 7);
}

struct Pool;
static SKIP_RUNS: Runs = Runs::new();

#[cached(skip(pool))]
async fn with_pool(pool: &Pool, id: u32) -> u32 {
    let _ = pool;
    SKIP_RUNS.tick();
    id + 1
}

#[tokio::test]
async fn skipped_arguments_are_not_part_of_the_key() {
    assert_eq!(with_pool(&Pool, 1).await, 2);
    assert_eq!(with_pool(&Pool, 1).await, 2);
    assert_eq!(SKIP_RUNS.get(), 1);
    // Companions take only the key arguments.
    assert!(with_pool::invalidate(1).await);
    assert_eq!(with_pool::key(1), with_pool::key(1));
}

static KEY_RUNS: Runs = Runs::new();

#[cached(key = query.trim().to_lowercase())]
async fn search(query: &str) -> String {
    KEY_RUNS.tick();
    format!("results for {}", query.trim().to_lowercase())
}

#[tokio::test]
async fn key_expression_replaces_the_arguments() {
    search("Rust").await;
    search("  rust ").await;
    assert_eq!(KEY_RUNS.get(), 1);
    search("go").await;
    assert_eq!(KEY_RUNS.get(), 2);
}

#[derive(Serialize)]
struct Filter {
    tags: HashMap<String, u32>,
}

static BORROW_RUNS: Runs = Runs::new();

#[cached]
async fn borrowed(filter: &Filter, ids: &[u32], label: impl Serialize + Send) -> usize {
    let _ = label;
    BORROW_RUNS.tick();
    filter.tags.len() + ids.len()
}

#[tokio::test]
async fn borrowed_and_impl_trait_arguments_key_by_value() {
    let a = Filter {
        tags: [("x".to_owned(), 1), ("y".to_owned(), 2)].into(),
    };
    let b = Filter {
        tags: [("y".to_owned(), 2), ("x".to_owned(), 1)].into(),
    };
    assert_eq!(borrowed(&a, &[1, 2], "l").await, 4);
    let ids: Vec<u32> = vec![1, 2];
    // The `impl Serialize` argument keeps its concrete type (`&str`): an
    // `impl Trait` argument keys by type as well as by value.
    assert_eq!(borrowed(&b, &ids, "l").await, 4);
    assert_eq!(BORROW_RUNS.get(), 1, "equal maps in another order hit");
    borrowed(&b, &[2, 1], "l").await;
    assert_eq!(BORROW_RUNS.get(), 2, "slices in another order miss");
}

#[cached]
async fn describe<T: Serialize + Send + Sync + std::fmt::Debug>(value: T) -> String {
    format!("{value:?} of {}", std::any::type_name::<T>())
}

#[tokio::test]
async fn generic_instantiations_never_share_entries() {
    // 7u8 and 7u64 encode alike; the key also carries the type parameter.
    assert_eq!(describe(7u8).await, "7 of u8");
    assert_eq!(describe(7u64).await, "7 of u64");
    assert_ne!(describe::key(7u8), describe::key(7u64));
}

static COMPANION_RUNS: Runs = Runs::new();

/// Keeps its doc comment.
#[cached]
pub async fn companion_target(id: u32) -> u32 {
    COMPANION_RUNS.tick();
    id * 10
}

#[tokio::test]
async fn companions_reach_the_function_cache() {
    companion_target(1).await;
    companion_target(2).await;
    assert_eq!(companion_target::cache().len(), 2);
    assert!(companion_target::invalidate(1).await);
    assert!(!companion_target::invalidate(1).await);
    assert!(memo_runtime::invalidate!(companion_target, 2).await);
    assert!(companion_target::cache().is_empty());

    let runs = COMPANION_RUNS.get();
    assert_eq!(companion_target::uncached(3).await, 30);
    assert_eq!(COMPANION_RUNS.get(), runs + 1);
    assert!(
        companion_target::cache().is_empty(),
        "uncached stores nothing"
    );

    companion_target(4).await;
    companion_target::clear().await;
    assert!(companion_target::cache().is_empty());

    let key = companion_target::key(4);
    assert_eq!(key.namespace(), "attribute::companion_target");
    assert_ne!(key, CacheKey::of(&(4u32,)));
}

#[cached]
async fn cube(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n * n * n
}

#[tokio::test]
async fn cached_calls_can_be_spawned() {
    // `tokio::spawn` only compiles if the cached call's future is `Send`.
    let handle = tokio::spawn(cube(3));
    assert_eq!(handle.await.unwrap(), 27);
}

/// A library that re-exports memo under another name.
mod reexporting_library {
    pub use memo_runtime as memo;
}

#[reexporting_library::memo::cached(crate = reexporting_library::memo)]
async fn through_a_reexport(n: u32) -> u32 {
    n + 1
}

#[tokio::test]
async fn crate_points_the_expansion_at_a_reexport() {
    assert_eq!(through_a_reexport(1).await, 2);
    assert_eq!(through_a_reexport(1).await, 2);
    assert_eq!(through_a_reexport::stats().hits, 1);
}
