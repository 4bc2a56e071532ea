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
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "redis")]
pub use crate::SharedTier;
use crate::cache::{Missed, keep_all};
use crate::freshness::Own;
use crate::key;
pub use crate::{AsyncCache, CacheKey, CacheStats, Eviction, Source};
use lifetime::lifespan_of;
pub use lifetime::{Lifetime, SiteTtl, ValueTtl};
pub use refresh::{
    RefreshLookup, lookup_refreshing, refresh, refresh_blocking, refresh_ok, refresh_ok_blocking,
    refresh_some, refresh_some_blocking,
};
pub use scoped::{PerType, Scoped};
#[cfg(feature = "redis")]
pub use shared::{
    SharedSite, SharedSpec, clear_shared, invalidate_shared, memoize_shared, memoize_shared_ok,
    memoize_shared_some, refresh_shared, refresh_shared_ok, refresh_shared_some,
    shared_function_cache, shared_site, soft_timeout_shared, soft_timeout_shared_ok,
    soft_timeout_shared_some,
};
pub use soft_timeout::{
    Within, soft_timeout, soft_timeout_blocking, soft_timeout_ok, soft_timeout_ok_blocking,
    soft_timeout_some, soft_timeout_some_blocking,
};

mod lifetime;
mod refresh;
mod scoped;
#[cfg(feature = "redis")]
mod shared;
mod soft_timeout;

/// What a memoized function knows about itself: the one static every
/// companion and the wrapper reach.
#[derive(Debug)]
pub struct Site {
    /// Builds the function's namespace (see [`Site::namespace`]).
    namespace: Scoped,
    /// The attribute's `ttl`, `stale`, `stale_retry` and `jitter`; unset
    /// ones are the cache's.
    pub(crate) own: Own,
    /// The attribute's `timeout`: how long a caller waits for a reload
    /// when a kept value could answer it.
    pub(crate) soft_timeout: Option<Duration>,
}

impl Site {
    /// A site whose namespaces are `prefix` + a type's name + `suffix`.
    pub const fn new(prefix: &'static str, suffix: &'static str, ttl: Option<Duration>) -> Site {
        Site {
            namespace: Scoped::new(prefix, suffix),
            own: Own::ttl(ttl),
            soft_timeout: None,
        }
    }

    /// The attribute's `stale = ..` and `stale_retry = ..` (checked by it).
    pub const fn stale(mut self, stale: Duration, retry: Option<Duration>) -> Site {
        self.own.stale = Some(stale);
        self.own.stale_retry = retry;
        self
    }

    /// The attribute's `refresh = ..` (checked by it: shorter than `ttl`).
    pub const fn refresh(mut self, refresh: Duration) -> Site {
        self.own.refresh = Some(refresh);
        self
    }

    /// The attribute's `timeout = ..` (checked by it: with `stale`).
    pub const fn soft_timeout(mut self, timeout: Duration) -> Site {
        self.soft_timeout = Some(timeout);
        self
    }

    /// The attribute's `idle = ..` (checked by it: longer than zero).
    pub const fn idle(mut self, idle: Duration) -> Site {
        self.own.idle = Some(idle);
        self
    }

    /// The attribute's `jitter = ..` (checked by it: in `[0, 1)`).
    pub const fn jitter(mut self, jitter: f64) -> Site {
        self.own.jitter = Some(jitter);
        self
    }

    /// The namespace of the function's entries when `Self` (the companion
    /// struct of a free function, the impl's type of a method) is named
    /// `self_type`: the same `&'static str` on every call.
    #[inline(always)]
    pub fn namespace(&'static self, self_type: &'static str) -> &'static str {
        self.namespace.namespace(self_type)
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
    let cache = builder.build().unwrap_or_else(|err| panic!("{err}"));
    cache.name_on_first_miss()
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
pub struct MissedKey(Option<Missed>);

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
    let Ok(id) = key.0.identity() else {
        cache.count_key_error();
        return Lookup::Miss(MissedKey(None));
    };
    match cache.lookup(namespace, id) {
        Some(Ok(value)) => Lookup::Hit(value),
        Some(Err(missed)) => {
            cache.missed_in(namespace);
            Lookup::Miss(MissedKey(Some(missed)))
        }
        // Caching is off.
        None => {
            cache.missed_in(namespace);
            Lookup::Miss(MissedKey(None))
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
    lifetime: impl Lifetime<V>,
    body: F,
) -> impl Future<Output = V>
where
    V: Clone + Send + Sync + 'static,
    F: Future<Output = V>,
{
    let loading = memoize_ok(cache, site, key, lifetime, AlwaysOk(body));
    Unwrapped(loading)
}

/// Like [`memoize`], for a body returning `Result`: only `Ok` values are
/// stored and shared.
pub fn memoize_ok<T, E, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    lifetime: impl Lifetime<T>,
    body: F,
) -> impl Future<Output = Result<T, E>>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Result<T, E>>,
{
    cache.load_missed(key.0, &site.own, keep_all, lifespan_of(lifetime), body)
}

/// Like [`memoize`], for a body returning `Option` (`cache_none = false`): a
/// `Some` is stored (as the whole `Option`, so a later `lookup::<Option<T>>`
/// hits); a `None` is returned and not stored. Callers that waited for a load
/// that ended in `None` get `None` too, without running their body.
pub fn memoize_some<T, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) -> impl Future<Output = Option<T>>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Option<T>>,
{
    let ttl_of = lifespan_of(lifetime);
    let loading = cache.load_missed(key.0, &site.own, Option::is_some, ttl_of, AlwaysOk(body));
    Unwrapped(loading)
}

/// [`memoize`] for a synchronous function: the same single flight, with the
/// callers that wait for another's load blocking their thread. If the body
/// panics, the panic goes on in this caller and one waiting caller runs its
/// own body in its place.
pub fn memoize_blocking<V, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    lifetime: impl Lifetime<V>,
    body: F,
) -> V
where
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> V,
{
    let ttl_of = lifespan_of(lifetime);
    let loaded = cache.load_missed_blocking(key.0, &site.own, keep_all, ttl_of, || {
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
    lifetime: impl Lifetime<T>,
    body: F,
) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Result<T, E>,
{
    cache.load_missed_blocking(key.0, &site.own, keep_all, lifespan_of(lifetime), body)
}

/// [`memoize_some`] for a synchronous function.
pub fn memoize_some_blocking<T, F>(
    cache: &AsyncCache,
    site: &Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) -> Option<T>
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Option<T>,
{
    let ttl_of = lifespan_of(lifetime);
    let loaded = cache.load_missed_blocking(key.0, &site.own, Option::is_some, ttl_of, || {
        Ok::<Option<T>, Infallible>(body())
    });
    match loaded {
        Ok(value) => value,
    }
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

/// What a `refresh` companion does before calling its function: the entry
/// of `key` expires now (kept for what is left of its `stale` window, as a
/// fallback if the reload fails), and loads of it in flight are doomed.
pub fn expire(cache: &AsyncCache, namespace: &'static str, key: EncodedKey) {
    if let Ok(id) = key.0.identity() {
        cache.expire_key(namespace, id);
    }
}

/// Before a `lookup` companion calls its function: what the call reports
/// starts as a hit (the hit path reports nothing).
pub fn begin_lookup() {
    crate::observe::source::reset();
}

/// After the function returned: where its value came from.
pub fn end_lookup() -> Source {
    crate::observe::source::reported()
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
mod tests;
