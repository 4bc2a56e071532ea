//! What the code of a function with `#[cached(refresh = ..)]` calls: a
//! lookup that tells a due value from a fresh one, and the background
//! reload of a due key, one per value mode and per kind of function. The
//! attribute checked that the arguments are owned, so the body's future (or
//! closure) is `'static` and can outlive the call that found the value due.

use std::convert::Infallible;
use std::future::Future;

use super::lifetime::lifespan_of;
use super::{AlwaysOk, EncodedKey, Lifetime, MissedKey, Site};
use crate::AsyncCache;
use crate::cache::{Looked, keep_all, refresh_in_background, refresh_in_background_blocking};

/// What the lookup of a function with `refresh` found.
pub enum RefreshLookup<V> {
    /// A fresh value: return it.
    Hit(V),
    /// A value to return now, due for a reload: pass the key and the body
    /// to one of the `refresh` functions, then return the value.
    Due(V, MissedKey),
    /// Nothing to serve: call one of the `memoize` functions with this.
    Miss(MissedKey),
}

/// [`lookup`](super::lookup) for a function with `refresh`.
#[inline(always)]
pub fn lookup_refreshing<V: Clone + Send + Sync + 'static>(
    cache: &AsyncCache,
    namespace: &'static str,
    key: &EncodedKey,
) -> RefreshLookup<V> {
    let Ok(id) = key.0.identity() else {
        cache.count_key_error();
        return RefreshLookup::Miss(MissedKey(None));
    };
    match cache.lookup_refreshing(namespace, id) {
        Some(Looked::Hit(value)) => RefreshLookup::Hit(value),
        Some(Looked::Due(value, missed)) => RefreshLookup::Due(value, MissedKey(Some(missed))),
        Some(Looked::Miss(missed)) => {
            cache.missed_in(namespace);
            RefreshLookup::Miss(MissedKey(Some(missed)))
        }
        None => {
            cache.missed_in(namespace);
            RefreshLookup::Miss(MissedKey(None))
        }
    }
}

/// Reloads a due key in the background with `body` (an async fn's future,
/// arguments moved in); its value replaces the entry, for as long as
/// `lifetime` says. At most one reload per key runs.
pub fn refresh<V, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<V>,
    body: F,
) where
    V: Clone + Send + Sync + 'static,
    F: Future<Output = V> + Send + 'static,
{
    refresh_ok(cache, site, key, lifetime, AlwaysOk(body));
}

/// [`refresh`] for a body returning `Result`: an `Err` keeps the old value.
pub fn refresh_ok<T, E, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<T>,
    body: F,
) where
    T: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    if let Some(missed) = key.0 {
        let ttl_of = lifespan_of(lifetime);
        refresh_in_background(cache, missed, site.own, keep_all, ttl_of, body);
    }
}

/// [`refresh`] for a body returning `Option` with `cache_none = false`: a
/// `None` keeps the old value.
pub fn refresh_some<T, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Option<T>> + Send + 'static,
{
    if let Some(missed) = key.0 {
        let ttl_of = lifespan_of(lifetime);
        refresh_in_background(
            cache,
            missed,
            site.own,
            Option::is_some,
            ttl_of,
            AlwaysOk(body),
        );
    }
}

/// [`refresh`] for a plain function: the body runs on a thread.
pub fn refresh_blocking<V, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<V>,
    body: F,
) where
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> V + Send + 'static,
{
    refresh_ok_blocking(cache, site, key, lifetime, move || {
        Ok::<V, Infallible>(body())
    });
}

/// [`refresh_ok`] for a plain function.
pub fn refresh_ok_blocking<T, E, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<T>,
    body: F,
) where
    T: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    if let Some(missed) = key.0 {
        let ttl_of = lifespan_of(lifetime);
        refresh_in_background_blocking(cache, missed, site.own, keep_all, ttl_of, body);
    }
}

/// [`refresh_some`] for a plain function.
pub fn refresh_some_blocking<T, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Option<T> + Send + 'static,
{
    if let Some(missed) = key.0 {
        let body = move || Ok::<Option<T>, Infallible>(body());
        let ttl_of = lifespan_of(lifetime);
        refresh_in_background_blocking(cache, missed, site.own, Option::is_some, ttl_of, body);
    }
}
