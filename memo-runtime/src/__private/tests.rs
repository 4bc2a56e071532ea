//! Unit tests of the glue: namespaces, blocking single flight, `memoize_some`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

static SITE: Site = Site::new("tests::", "", None);

/// The namespace of `SITE`, as generated code gets it.
fn ns() -> &'static str {
    SITE.namespace("f")
}

fn encoded(k: u64) -> EncodedKey {
    let mut key = EncodedKey::new(1);
    key.part(&k);
    key.finish();
    key
}

fn new_cache() -> AsyncCache {
    AsyncCache::builder().max_size(100).build().unwrap()
}

/// A sync memoized function as generated code calls it.
fn call_blocking<V: Clone + Send + Sync + 'static>(
    cache: &AsyncCache,
    k: u64,
    body: impl FnOnce() -> V,
) -> V {
    match lookup::<V>(cache, ns(), &encoded(k)) {
        Lookup::Hit(value) => value,
        Lookup::Miss(key) => memoize_blocking(cache, &SITE, key, SiteTtl, body),
    }
}

fn call_ok_blocking(
    cache: &AsyncCache,
    k: u64,
    body: impl FnOnce() -> Result<u64, String>,
) -> Result<u64, String> {
    match lookup::<u64>(cache, ns(), &encoded(k)) {
        Lookup::Hit(value) => Ok(value),
        Lookup::Miss(key) => memoize_ok_blocking(cache, &SITE, key, SiteTtl, body),
    }
}

fn call_some_blocking(
    cache: &AsyncCache,
    k: u64,
    body: impl FnOnce() -> Option<u64>,
) -> Option<u64> {
    match lookup::<Option<u64>>(cache, ns(), &encoded(k)) {
        Lookup::Hit(value) => value,
        Lookup::Miss(key) => memoize_some_blocking(cache, &SITE, key, SiteTtl, body),
    }
}

async fn call_some(
    cache: &AsyncCache,
    k: u64,
    body: impl Future<Output = Option<u64>>,
) -> Option<u64> {
    match lookup::<Option<u64>>(cache, ns(), &encoded(k)) {
        Lookup::Hit(value) => value,
        Lookup::Miss(key) => memoize_some(cache, &SITE, key, SiteTtl, body).await,
    }
}

/// Spins until `done`, failing the test rather than hanging.
fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what} hung");
        thread::yield_now();
    }
}

#[test]
fn scoped_namespaces_differ_by_type_and_are_interned() {
    static SCOPED: Scoped = Scoped::new("m::<", ">::f");
    let a = SCOPED.namespace(type_name::<u32>());
    let b = SCOPED.namespace(type_name::<String>());
    assert_eq!(a, "m::<u32>::f");
    assert_eq!(b, "m::<alloc::string::String>::f");
    assert_ne!(a, b);
    // Repeats give the very same string, first type and others alike.
    assert!(std::ptr::eq(a, SCOPED.namespace(type_name::<u32>())));
    assert!(std::ptr::eq(b, SCOPED.namespace(type_name::<String>())));
    // Equal names from another `&'static str` find the same namespace.
    let copy: &'static str = Box::leak(type_name::<String>().to_owned().into_boxed_str());
    assert!(std::ptr::eq(b, SCOPED.namespace(copy)));
}

#[test]
fn scoped_namespaces_of_many_types_from_racing_threads() {
    static SCOPED: Scoped = Scoped::new("generic::Repo<", ">::load");
    let names: Vec<&'static str> = (0..40)
        .map(|i| &*Box::leak(format!("T{i}").into_boxed_str()))
        .collect();
    let barrier = Barrier::new(8);
    let seen: Vec<Vec<&'static str>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (names, barrier) = (&names, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    // Each thread in its own order, so first inits race.
                    for i in 0..names.len() {
                        SCOPED.namespace(names[(i * (t + 1) + t) % names.len()]);
                    }
                    names.iter().map(|name| SCOPED.namespace(name)).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, name) in names.iter().enumerate() {
        assert_eq!(seen[0][i], format!("generic::Repo<{name}>::load"));
        for thread in &seen[1..] {
            assert!(std::ptr::eq(seen[0][i], thread[i]), "{name} interned twice");
        }
    }
}

#[test]
fn namespaces_keep_keys_apart() {
    let cache = new_cache();
    static SCOPED: Scoped = Scoped::new("m::<", ">::f");
    let (a, b) = (SCOPED.namespace("A"), SCOPED.namespace("B"));
    assert_eq!(cache_key(a, encoded(1)).namespace(), "m::<A>::f");
    let Lookup::Miss(key) = lookup::<u64>(&cache, a, &encoded(1)) else {
        panic!("hit in an empty cache")
    };
    assert_eq!(memoize_blocking(&cache, &SITE, key, SiteTtl, || 10u64), 10);
    assert!(matches!(
        lookup::<u64>(&cache, a, &encoded(1)),
        Lookup::Hit(10)
    ));
    assert!(matches!(
        lookup::<u64>(&cache, b, &encoded(1)),
        Lookup::Miss(_)
    ));
    assert!(!invalidate_blocking(&cache, b, encoded(1)));
    assert!(invalidate_blocking(&cache, a, encoded(1)));
    assert!(cache.is_empty());
}

#[test]
fn clear_blocking_clears_one_namespace() {
    let cache = new_cache();
    let other = SITE.namespace("g");
    for k in 0..3 {
        call_blocking(&cache, k, || k);
        let Lookup::Miss(key) = lookup::<u64>(&cache, other, &encoded(k)) else {
            panic!("hit in another namespace")
        };
        memoize_blocking(&cache, &SITE, key, SiteTtl, || k);
    }
    clear_blocking(&cache, ns());
    assert_eq!(cache.len(), 3);
    assert!(matches!(
        lookup::<u64>(&cache, other, &encoded(0)),
        Lookup::Hit(0)
    ));
}

#[test]
fn blocking_single_flight_runs_the_body_once() {
    let cache = new_cache();
    let runs = AtomicUsize::new(0);
    let results: Vec<u64> = thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    call_blocking(&cache, 7, || {
                        runs.fetch_add(1, SeqCst);
                        // Held until the three others wait on this load.
                        until("waiters", || cache.waiters_in_flight() == 3);
                        42u64
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, [42; 4]);
    assert_eq!(runs.load(SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.inserts), (4, 3, 1));
    assert_eq!((cache.loads_in_flight(), cache.waiters_in_flight()), (0, 0));
    assert_eq!(call_blocking(&cache, 7, || 0u64), 42);
}

#[test]
fn blocking_leader_that_panics_hands_over_to_one_waiter() {
    let cache = new_cache();
    let runs = AtomicUsize::new(0);
    let results: Vec<thread::Result<u64>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    call_blocking(&cache, 1, || {
                        if runs.fetch_add(1, SeqCst) == 0 {
                            until("waiters", || cache.waiters_in_flight() == 2);
                            panic!("first body fails");
                        }
                        5u64
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert!(results.iter().flatten().all(|&v| v == 5));
    // The panicking leader, then one waiter took over for the other.
    assert_eq!(runs.load(SeqCst), 2);
    assert_eq!((cache.loads_in_flight(), cache.waiters_in_flight()), (0, 0));
    assert_eq!(cache.stats().coalesced, 1);
}

#[test]
fn blocking_waiters_of_a_failed_load_each_run_their_own_body_once() {
    let cache = new_cache();
    let runs = AtomicUsize::new(0);
    let results: Vec<Result<u64, String>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    call_ok_blocking(&cache, 2, || {
                        if runs.fetch_add(1, SeqCst) == 0 {
                            until("waiters", || cache.waiters_in_flight() == 2);
                            return Err("down".to_owned());
                        }
                        Ok(9)
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!((failed, results.len()), (1, 3));
    assert_eq!(runs.load(SeqCst), 3);
    // Run outside the flight, the waiters' values are not stored.
    assert!(cache.is_empty());
}

#[test]
fn blocking_invalidation_wins_over_the_load_in_flight() {
    let cache = new_cache();
    let value = call_blocking(&cache, 3, || {
        assert!(!invalidate_blocking(&cache, ns(), encoded(3)));
        1u64
    });
    assert_eq!(value, 1);
    assert!(cache.is_empty(), "a doomed load was stored");
    let value = call_blocking(&cache, 3, || {
        clear_blocking(&cache, ns());
        2u64
    });
    assert_eq!(value, 2);
    assert!(cache.is_empty(), "a load doomed by a clear was stored");
}

#[test]
fn memoize_some_blocking_stores_some_but_not_none() {
    let cache = new_cache();
    assert_eq!(call_some_blocking(&cache, 1, || None), None);
    assert!(cache.is_empty());
    assert_eq!(call_some_blocking(&cache, 1, || Some(4)), Some(4));
    assert_eq!(call_some_blocking(&cache, 1, || Some(5)), Some(4));
    assert_eq!(cache.stats().hits, 1);
}

#[test]
fn blocking_waiters_of_a_none_load_share_it() {
    let cache = new_cache();
    let runs = AtomicUsize::new(0);
    let results: Vec<Option<u64>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    call_some_blocking(&cache, 8, || {
                        runs.fetch_add(1, SeqCst);
                        until("waiters", || cache.waiters_in_flight() == 2);
                        None
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, [None; 3]);
    assert_eq!(runs.load(SeqCst), 1);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn memoize_some_stores_some_but_not_none() {
    let cache = new_cache();
    assert_eq!(call_some(&cache, 1, async { None }).await, None);
    assert!(cache.is_empty());
    assert_eq!(call_some(&cache, 1, async { Some(4) }).await, Some(4));
    assert_eq!(call_some(&cache, 1, async { Some(5) }).await, Some(4));
    assert_eq!(cache.stats().hits, 1);
}

#[tokio::test]
async fn async_waiters_of_a_none_load_share_it() {
    let cache = Arc::new(new_cache());
    let runs = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (cache, runs, release) = (cache.clone(), runs.clone(), release.clone());
            tokio::spawn(async move {
                let body = async {
                    runs.fetch_add(1, SeqCst);
                    release.notified().await;
                    None
                };
                call_some(&cache, 8, body).await
            })
        })
        .collect();
    while cache.waiters_in_flight() < 2 {
        tokio::task::yield_now().await;
    }
    release.notify_waiters();
    for task in tasks {
        assert_eq!(task.await.unwrap(), None);
    }
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(cache.stats().coalesced, 2);
    assert!(cache.is_empty());
}

#[test]
fn type_name_of_val_names_the_concrete_type() {
    let seen = Mutex::new(0u8);
    assert_eq!(type_name_of_val(&1u16), "u16");
    assert!(type_name_of_val(&seen).contains("Mutex<u8>"));
}
