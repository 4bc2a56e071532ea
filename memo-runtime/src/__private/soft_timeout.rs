//! What the code of a function with `#[cached(timeout = .., stale = ..)]`
//! calls after its lookup missed: with a kept value, the reload runs
//! detached and the caller waits for it at most the soft timeout (see
//! `cache::soft_timeout`); without one, the key and the body come back for
//! the usual `memoize` call.

use std::convert::Infallible;
use std::future::Future;

use super::lifetime::lifespan_of;
use super::{AlwaysOk, Lifetime, MissedKey, Site};
use crate::AsyncCache;
use crate::cache::{self, keep_all};

/// What a soft-timeout call got.
pub enum Within<V, F> {
    /// Return this.
    Value(V),
    /// Nothing kept: call the `memoize` function with the key and the body.
    Load(MissedKey, F),
}

fn timeout_of(site: &Site) -> std::time::Duration {
    site.soft_timeout.unwrap_or_default()
}

/// For a body returning a plain value.
pub async fn soft_timeout<V, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<V>,
    body: F,
) -> Within<V, F>
where
    V: Clone + Send + Sync + 'static,
    F: Future<Output = V> + Send + 'static,
{
    infallible(cache, site, key, keep_all, lifetime, body).await
}

/// For a body returning `Result`: only `Ok` values are stored.
pub async fn soft_timeout_ok<T, E, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<T>,
    body: F,
) -> Within<Result<T, E>, F>
where
    T: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    let Some(missed) = key.0 else {
        return Within::Load(key, body);
    };
    let (ttl_of, timeout) = (lifespan_of(lifetime), timeout_of(site));
    match cache::reload_within(cache, missed, site.own, keep_all, ttl_of, timeout, body).await {
        cache::Within::Value(result) => Within::Value(result),
        cache::Within::Load(missed, body) => Within::Load(MissedKey(Some(missed)), body),
    }
}

/// For a body returning `Option` with `cache_none = false`.
pub async fn soft_timeout_some<T, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) -> Within<Option<T>, F>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = Option<T>> + Send + 'static,
{
    infallible(cache, site, key, Option::is_some, lifetime, body).await
}

/// [`soft_timeout`] for a plain function.
pub fn soft_timeout_blocking<V, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<V>,
    body: F,
) -> Within<V, F>
where
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> V + Send + 'static,
{
    infallible_blocking(cache, site, key, keep_all, lifetime, body)
}

/// [`soft_timeout_ok`] for a plain function.
pub fn soft_timeout_ok_blocking<T, E, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<T>,
    body: F,
) -> Within<Result<T, E>, F>
where
    T: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    let Some(missed) = key.0 else {
        return Within::Load(key, body);
    };
    let (ttl_of, timeout) = (lifespan_of(lifetime), timeout_of(site));
    match cache::reload_within_blocking(cache, missed, site.own, keep_all, ttl_of, timeout, body) {
        cache::Within::Value(result) => Within::Value(result),
        cache::Within::Load(missed, body) => Within::Load(MissedKey(Some(missed)), body),
    }
}

/// [`soft_timeout_some`] for a plain function.
pub fn soft_timeout_some_blocking<T, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) -> Within<Option<T>, F>
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Option<T> + Send + 'static,
{
    infallible_blocking(cache, site, key, Option::is_some, lifetime, body)
}

/// The soft-timeout step of a body that cannot fail (a plain value, or an
/// `Option`), stored when `keep` says so.
async fn infallible<V, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    keep: fn(&V) -> bool,
    lifetime: impl Lifetime<V>,
    body: F,
) -> Within<V, F>
where
    V: Clone + Send + Sync + 'static,
    F: Future<Output = V> + Send + 'static,
{
    let Some(missed) = key.0 else {
        return Within::Load(key, body);
    };
    let (ttl_of, timeout) = (lifespan_of(lifetime), timeout_of(site));
    match cache::reload_within(
        cache,
        missed,
        site.own,
        keep,
        ttl_of,
        timeout,
        AlwaysOk(body),
    )
    .await
    {
        cache::Within::Value(Ok(value)) => Within::Value(value),
        cache::Within::Value(Err(never)) => match never {},
        cache::Within::Load(missed, body) => Within::Load(MissedKey(Some(missed)), body.0),
    }
}

/// [`infallible`] for a plain function. Its body is wrapped in a closure
/// that cannot be unwrapped again, so when nothing is kept the usual load
/// runs here.
fn infallible_blocking<V, F>(
    cache: &'static AsyncCache,
    site: &'static Site,
    key: MissedKey,
    keep: fn(&V) -> bool,
    lifetime: impl Lifetime<V>,
    body: F,
) -> Within<V, F>
where
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> V + Send + 'static,
{
    let Some(missed) = key.0 else {
        return Within::Load(key, body);
    };
    let reload = move || Ok::<V, Infallible>(body());
    let (ttl_of, timeout) = (lifespan_of(lifetime), timeout_of(site));
    let within =
        cache::reload_within_blocking(cache, missed, site.own, keep, ttl_of, timeout, reload);
    let loaded = match within {
        cache::Within::Value(value) => value,
        cache::Within::Load(missed, reload) => {
            cache.load_missed_blocking(Some(missed), &site.own, keep, ttl_of, reload)
        }
    };
    match loaded {
        Ok(value) => Within::Value(value),
    }
}
