//! The entry points generated code calls. Not public API: names and
//! signatures here change without notice.

pub use serde::Serialize;
pub use std::any::{type_name, type_name_of_val};
pub use std::boxed::Box;
pub use std::future::Future;
pub use std::option::Option::{self, None, Some};
pub use std::result::Result;
pub use std::sync::LazyLock;
pub use std::time::Duration;
pub use std::{concat, module_path, stringify};

use std::convert::Infallible;
use std::fmt;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::ptr;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use parking_lot::RwLock;

use crate::cache::keep_all;
use crate::key;
pub use crate::{AsyncCache, CacheKey, CacheStats, Eviction};

/// What a memoized function knows about itself, fixed at compile time.
#[derive(Debug)]
pub struct Site {
    /// `module::path::function`: keeps its keys apart from other functions'.
    pub namespace: &'static str,
    /// The attribute's `ttl`; `None` uses the cache's default.
    pub ttl: Option<Duration>,
}

/// The namespace of an associated function, which depends on the `Self` type
/// it is called for (a generic `impl<T> Foo<T>` has one function per type):
/// `prefix`, then `type_name::<Self>()`, then `suffix`, built and leaked once
/// per site and type.
pub struct Scoped {
    prefix: &'static str,
    suffix: &'static str,
    /// The first `Self` type seen and its namespace: the only one, unless the
    /// impl is generic.
    first: OnceLock<(&'static str, &'static str)>,
    /// The namespaces of the other types, by type name.
    more: RwLock<hashbrown::HashMap<&'static str, &'static str, foldhash::fast::FixedState>>,
}

impl Scoped {
    /// A site whose namespaces are `prefix` + type name + `suffix`.
    pub const fn new(prefix: &'static str, suffix: &'static str) -> Scoped {
        Scoped {
            prefix,
            suffix,
            first: OnceLock::new(),
            more: RwLock::new(hashbrown::HashMap::with_hasher(
                foldhash::fast::FixedState::with_seed(0),
            )),
        }
    }

    /// The namespace for `Self` = `self_type` (its `type_name`): the same
    /// `&'static str` on every call with that type. The first type costs a
    /// read and a string compare, no allocation and no shared write.
    #[inline]
    pub fn namespace(&'static self, self_type: &'static str) -> &'static str {
        match self.first.get() {
            // Usually the very same string; else compared by content (a type's
            // name may exist once per codegen unit).
            Some((seen, namespace)) if ptr::eq(*seen, self_type) || *seen == self_type => namespace,
            _ => self.namespace_slow(self_type),
        }
    }

    #[cold]
    fn namespace_slow(&'static self, self_type: &'static str) -> &'static str {
        let (seen, namespace) = *self
            .first
            .get_or_init(|| (self_type, self.build(self_type)));
        if seen == self_type {
            return namespace;
        }
        if let Some(namespace) = self.more.read().get(self_type) {
            return namespace;
        }
        self.more
            .write()
            .entry(self_type)
            .or_insert_with(|| self.build(self_type))
    }

    fn build(&self, self_type: &str) -> &'static str {
        let namespace = [self.prefix, self_type, self.suffix].concat();
        Box::leak(namespace.into_boxed_str())
    }
}

impl fmt::Debug for Scoped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("prefix", &self.prefix)
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

/// The key of one call, built from its key arguments with one
/// [`EncodedKey::part`] per argument: generated code spans each call at its
/// argument, so a missing `Serialize` is reported there, once.
pub struct EncodedKey(key::KeyParts);

impl EncodedKey {
    /// Starts a key of `parts` arguments.
    #[inline(always)]
    pub fn new(parts: usize) -> Self {
        EncodedKey(key::KeyParts::new(parts))
    }

    /// Adds the next argument.
    #[inline(always)]
    pub fn part<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.0.part(value);
    }

    /// Closes the key, in place.
    #[inline(always)]
    pub fn finish(&mut self) {
        self.0.finish();
    }
}

/// A function's own cache: the global defaults, except what the attribute
/// sets (validated at compile time, so building cannot fail).
pub fn function_cache(max_size: Option<usize>, eviction: Option<Eviction>) -> AsyncCache {
    let mut builder = AsyncCache::builder();
    if let Some(max_size) = max_size.and_then(NonZeroUsize::new) {
        builder = builder.max_size(max_size.get());
    }
    if let Some(eviction) = eviction {
        builder = builder.eviction(eviction);
    }
    builder.build().unwrap_or_else(|err| panic!("{err}"))
}

/// What [`lookup`] found.
pub enum Lookup<V> {
    /// The stored value: return it.
    Hit(V),
    /// Nothing stored: call one of the `memoize` functions with this.
    Miss(MissedKey),
}

/// The key of a call that missed, kept small: the loading future holds it.
/// `None` when memoization is off or the arguments could not be keyed (the
/// body just runs).
pub struct MissedKey(pub(crate) Option<(CacheKey, u64)>);

/// Looks the call up in `namespace` (a [`Site`]'s, or a [`Scoped`]'s).
/// Generated code calls this first, synchronously, so a hit never builds the
/// body's future or the loading state machine.
#[inline(always)]
pub fn lookup<V: Clone + Send + Sync + 'static>(
    cache: &AsyncCache,
    namespace: &'static str,
    key: &EncodedKey,
) -> Lookup<V> {
    // By reference: moving the key buffer out would copy all of it.
    let id = match key.0.identity() {
        Ok(id) if cache.is_enabled() => id,
        Ok(_) => return Lookup::Miss(MissedKey(None)),
        Err(_) => {
            cache.count_key_error();
            return Lookup::Miss(MissedKey(None));
        }
    };
    match cache.lookup(namespace, id) {
        Ok(value) => Lookup::Hit(value),
        Err(hash) => {
            let key = CacheKey::from_parts(namespace, id);
            Lookup::Miss(MissedKey(Some((key, hash))))
        }
    }
}

/// Runs `body` after a [`lookup`] missed: one caller per key runs its body,
/// the others wait for its value, which is stored. `site` gives the TTL (the
/// key already has its namespace).
///
/// A body that calls its own function with the same arguments (directly or
/// through others) panics in the inner call instead of waiting for itself.
pub fn memoize<V, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    body: F,
) -> impl Future<Output = V>
where
    V: Clone + Send + Sync + 'static,
    F: Future<Output = V>,
{
    let loading = memoize_ok(cache, site, key, AlwaysOk(body));
    Unwrapped(loading)
}

/// Like [`memoize`], for a body returning `Result`: only `Ok` values are
/// stored and shared.
pub fn memoize_ok<T, E, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    body: F,
) -> impl Future<Output = Result<T, E>>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Result<T, E>>,
{
    cache.load_missed(key.0, ttl(cache, site), keep_all, body)
}

/// Like [`memoize`], for a body returning `Option` (`cache_none = false`): a
/// `Some` is stored (as the whole `Option`, so a later `lookup::<Option<T>>`
/// hits); a `None` is returned and not stored. Callers that waited for a load
/// that ended in `None` get `None` too, without running their body.
pub fn memoize_some<T, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    body: F,
) -> impl Future<Output = Option<T>>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Option<T>>,
{
    let loading = cache.load_missed(key.0, ttl(cache, site), Option::is_some, AlwaysOk(body));
    Unwrapped(loading)
}

/// [`memoize`] for a synchronous function: the same single flight, with the
/// callers that wait for another's load blocking their thread. If the body
/// panics, the panic goes on in this caller and one waiting caller runs its
/// own body in its place.
pub fn memoize_blocking<V, F>(cache: &AsyncCache, site: &Site, key: MissedKey, body: F) -> V
where
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> V,
{
    let loaded = cache.load_missed_blocking(key.0, ttl(cache, site), keep_all, || {
        Ok::<V, Infallible>(body())
    });
    match loaded {
        Ok(value) => value,
    }
}

/// [`memoize_ok`] for a synchronous function: only `Ok` values are stored
/// and shared; the callers that waited for a load that failed each run their
/// own body once.
pub fn memoize_ok_blocking<T, E, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    body: F,
) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Result<T, E>,
{
    cache.load_missed_blocking(key.0, ttl(cache, site), keep_all, body)
}

/// [`memoize_some`] for a synchronous function.
pub fn memoize_some_blocking<T, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    body: F,
) -> Option<T>
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Option<T>,
{
    let loaded = cache.load_missed_blocking(key.0, ttl(cache, site), Option::is_some, || {
        Ok::<Option<T>, Infallible>(body())
    });
    match loaded {
        Ok(value) => value,
    }
}

/// The TTL of `site`'s entries.
fn ttl(cache: &AsyncCache, site: &Site) -> Duration {
    site.ttl.unwrap_or(cache.default_ttl())
}

/// `Ok(output)` of a future that cannot fail, without another async layer.
struct AlwaysOk<F>(F);

impl<F: Future> Future for AlwaysOk<F> {
    type Output = Result<F::Output, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: the field is pinned whenever `self` is (structural pinning),
        // and it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|this| &mut this.0) };
        inner.poll(cx).map(Ok)
    }
}

/// The value of a future that returns `Result<V, Infallible>`.
struct Unwrapped<F>(F);

impl<V, F: Future<Output = Result<V, Infallible>>> Future for Unwrapped<F> {
    type Output = V;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<V> {
        // SAFETY: as for `AlwaysOk`.
        let inner = unsafe { self.map_unchecked_mut(|this| &mut this.0) };
        inner.poll(cx).map(|result| match result {
            Ok(value) => value,
        })
    }
}

/// Removes one call's entry; true if there was one.
pub async fn invalidate(cache: &AsyncCache, namespace: &'static str, key: EncodedKey) -> bool {
    invalidate_blocking(cache, namespace, key)
}

/// [`invalidate`], for a synchronous function's companion.
pub fn invalidate_blocking(cache: &AsyncCache, namespace: &'static str, key: EncodedKey) -> bool {
    match key.0.identity() {
        Ok(id) => cache.remove_key(namespace, id),
        // Nothing can be stored under a key that cannot be built.
        Err(_) => false,
    }
}

/// Removes every entry of one function (of one `namespace`).
pub async fn clear(cache: &AsyncCache, namespace: &'static str) {
    clear_blocking(cache, namespace);
}

/// [`clear`], for a synchronous function's companion.
pub fn clear_blocking(cache: &AsyncCache, namespace: &'static str) {
    cache.clear_namespace(namespace);
}

/// The key one call uses.
///
/// # Panics
///
/// If the arguments cannot be keyed; the message says how to fix it.
pub fn cache_key(namespace: &'static str, key: EncodedKey) -> CacheKey {
    match key.0.identity() {
        Ok(id) => CacheKey::from_parts(namespace, id),
        Err(err) => panic!("{err}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Barrier, Mutex};
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;

    static SITE: Site = Site {
        namespace: "tests::f",
        ttl: None,
    };

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
        match lookup::<V>(cache, SITE.namespace, &encoded(k)) {
            Lookup::Hit(value) => value,
            Lookup::Miss(key) => memoize_blocking(cache, &SITE, key, body),
        }
    }

    fn call_ok_blocking(
        cache: &AsyncCache,
        k: u64,
        body: impl FnOnce() -> Result<u64, String>,
    ) -> Result<u64, String> {
        match lookup::<u64>(cache, SITE.namespace, &encoded(k)) {
            Lookup::Hit(value) => Ok(value),
            Lookup::Miss(key) => memoize_ok_blocking(cache, &SITE, key, body),
        }
    }

    fn call_some_blocking(
        cache: &AsyncCache,
        k: u64,
        body: impl FnOnce() -> Option<u64>,
    ) -> Option<u64> {
        match lookup::<Option<u64>>(cache, SITE.namespace, &encoded(k)) {
            Lookup::Hit(value) => value,
            Lookup::Miss(key) => memoize_some_blocking(cache, &SITE, key, body),
        }
    }

    async fn call_some(
        cache: &AsyncCache,
        k: u64,
        body: impl Future<Output = Option<u64>>,
    ) -> Option<u64> {
        match lookup::<Option<u64>>(cache, SITE.namespace, &encoded(k)) {
            Lookup::Hit(value) => value,
            Lookup::Miss(key) => memoize_some(cache, &SITE, key, body).await,
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
        let site = Site {
            namespace: a,
            ttl: None,
        };
        assert_eq!(memoize_blocking(&cache, &site, key, || 10u64), 10);
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
        let other = Site {
            namespace: "tests::g",
            ttl: None,
        };
        for k in 0..3 {
            call_blocking(&cache, k, || k);
            let Lookup::Miss(key) = lookup::<u64>(&cache, other.namespace, &encoded(k)) else {
                panic!("hit in another namespace")
            };
            memoize_blocking(&cache, &other, key, || k);
        }
        clear_blocking(&cache, SITE.namespace);
        assert_eq!(cache.len(), 3);
        assert!(matches!(
            lookup::<u64>(&cache, other.namespace, &encoded(0)),
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
            assert!(!invalidate_blocking(&cache, SITE.namespace, encoded(3)));
            1u64
        });
        assert_eq!(value, 1);
        assert!(cache.is_empty(), "a doomed load was stored");
        let value = call_blocking(&cache, 3, || {
            clear_blocking(&cache, SITE.namespace);
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
}
