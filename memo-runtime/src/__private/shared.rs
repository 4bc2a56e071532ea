//! Glue for memoized functions marked `shared`: their cache is a
//! [`SharedCache`] over the function's own in-memory cache, or that
//! in-memory cache alone when no tier is configured.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use super::lifetime::lifespan_of;
use super::{AlwaysOk, EncodedKey, Lifetime, MissedKey, Site, Unwrapped, function_cache};
use crate::cache::keep_all;
use crate::config;
use crate::shared::{SharedCache, SharedValue};
use crate::{AsyncCache, Eviction, SharedTier};

/// The cache of a `shared` function.
pub enum SharedSite {
    /// In memory, in front of the shared tier.
    Shared(SharedCache),
    /// No tier was configured: in memory only (warned once).
    MemoryOnly(Box<AsyncCache>),
}

impl SharedSite {
    /// The in-memory cache, which the companions see.
    pub fn memory(&self) -> &AsyncCache {
        match self {
            SharedSite::Shared(shared) => shared.memory(),
            SharedSite::MemoryOnly(cache) => cache,
        }
    }
}

/// What `shared` functions tell about themselves.
pub struct SharedSpec {
    /// `name = ".."`, else `None` for the function's namespace.
    pub name: Option<&'static str>,
    pub version: u32,
    pub max_size: Option<usize>,
    pub eviction: Option<Eviction>,
}

/// A `shared` function's cache for the namespace `namespace` (one per
/// `Self` type of a method in a generic impl), built on first use.
#[inline]
pub fn shared_site(
    sites: &'static super::PerType<SharedSite>,
    namespace: &'static str,
    build: impl FnOnce() -> SharedSite,
) -> &'static SharedSite {
    sites.get(namespace, || Box::leak(Box::new(build())))
}

/// Builds a `shared` function's cache on `tier` (`shared = TIER`), else
/// on the tier `Config::shared_tier` set. Without either, the function
/// caches in memory, with one warning on stderr.
pub fn shared_function_cache(
    namespace: &'static str,
    site: &Site,
    tier: Option<&SharedTier>,
    spec: SharedSpec,
) -> SharedSite {
    let configured = config::current_config().get_shared_tier();
    let Some(tier) = tier.or(configured).cloned() else {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Relaxed) {
            eprintln!(
                "memo: `{namespace}` is marked `shared`, but no shared tier is configured \
                 (`configure(Config::default().shared_tier(tier))`); it caches in memory only"
            );
        }
        let memory = function_cache(spec.max_size, spec.eviction);
        return SharedSite::MemoryOnly(Box::new(memory));
    };
    let name = spec
        .name
        .map_or_else(|| redis_name(namespace), str::to_owned);
    let mut builder = SharedCache::builder(name, tier)
        .version(spec.version)
        .memory_namespace(namespace);
    if let Some(ttl) = site.own.ttl {
        builder = builder.default_ttl(ttl);
    }
    if let Some(stale) = site.own.stale {
        builder = builder.stale(stale);
    }
    if let Some(retry) = site.own.stale_retry {
        builder = builder.stale_retry(retry);
    }
    if let Some(jitter) = site.own.jitter {
        builder = builder.jitter(jitter);
    }
    if let Some(idle) = site.own.idle {
        builder = builder.time_to_idle(idle);
    }
    if let Some(refresh) = site.own.refresh {
        builder = builder.refresh_after(refresh);
    }
    if let Some(max_size) = spec.max_size {
        builder = builder.max_size(max_size);
    }
    if let Some(eviction) = spec.eviction {
        builder = builder.eviction(eviction);
    }
    // The attribute checked the name and the settings at compile time.
    SharedSite::Shared(builder.build().unwrap_or_else(|err| panic!("{err}")))
}

/// A namespace as a Redis name: printable, without the braces of hash tags
/// (a function declared in a closure has `{{closure}}` in its path), and
/// one-to-one: every other byte becomes `_xHH`, and `_` itself `__`.
fn redis_name(namespace: &str) -> String {
    let mut name = String::with_capacity(namespace.len());
    for byte in namespace.bytes() {
        match byte {
            b'_' => name.push_str("__"),
            b'{' | b'}' => name.push_str(&format!("_x{byte:02x}")),
            b if b.is_ascii_graphic() => name.push(char::from(b)),
            b => name.push_str(&format!("_x{b:02x}")),
        }
    }
    name
}

/// [`memoize`](super::memoize) for a `shared` function.
pub fn memoize_shared<V, F>(
    cache: &'static SharedSite,
    site: &Site,
    key: MissedKey,
    lifetime: impl Lifetime<V>,
    body: F,
) -> impl Future<Output = V>
where
    V: SharedValue,
    F: Future<Output = V>,
{
    let loading = memoize_shared_ok(cache, site, key, lifetime, AlwaysOk(body));
    Unwrapped(loading)
}

/// [`memoize_ok`](super::memoize_ok) for a `shared` function.
pub async fn memoize_shared_ok<T, E, F>(
    cache: &'static SharedSite,
    site: &Site,
    key: MissedKey,
    lifetime: impl Lifetime<T>,
    body: F,
) -> Result<T, E>
where
    T: SharedValue,
    F: Future<Output = Result<T, E>>,
{
    match cache {
        SharedSite::Shared(shared) => {
            let own_ttl = lifetime.ttl_of();
            shared.load_missed(key.0, keep_all, own_ttl, body).await
        }
        SharedSite::MemoryOnly(memory) => {
            super::memoize_ok(memory, site, key, lifetime, body).await
        }
    }
}

/// [`memoize_some`](super::memoize_some) for a `shared` function
/// (`cache_none = false`): a `None` is returned, stored nowhere.
pub async fn memoize_shared_some<T, F>(
    cache: &'static SharedSite,
    site: &Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) -> Option<T>
where
    T: Clone + Send + Sync + 'static,
    Option<T>: SharedValue,
    F: Future<Output = Option<T>>,
{
    match cache {
        SharedSite::Shared(shared) => {
            let own_ttl = lifetime.ttl_of();
            Unwrapped(shared.load_missed(key.0, Option::is_some, own_ttl, AlwaysOk(body))).await
        }
        SharedSite::MemoryOnly(memory) => {
            super::memoize_some(memory, site, key, lifetime, body).await
        }
    }
}

/// [`refresh`](fn@super::refresh) for a `shared` function: one replica at a
/// time reloads the key, under its Redis lock, and publishes the value.
pub fn refresh_shared<V, F>(
    cache: &'static SharedSite,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<V>,
    body: F,
) where
    V: SharedValue,
    F: Future<Output = V> + Send + 'static,
{
    refresh_shared_ok(cache, site, key, lifetime, AlwaysOk(body));
}

/// [`refresh_ok`](fn@super::refresh_ok) for a `shared` function.
pub fn refresh_shared_ok<T, E, F>(
    cache: &'static SharedSite,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<T>,
    body: F,
) where
    T: SharedValue,
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    match cache {
        SharedSite::Shared(shared) => {
            if let Some(missed) = key.0 {
                shared.refresh_in_background(missed, keep_all, lifetime.ttl_of(), body);
            }
        }
        SharedSite::MemoryOnly(memory) => super::refresh_ok(memory, site, key, lifetime, body),
    }
}

/// [`refresh_some`](fn@super::refresh_some) for a `shared` function.
pub fn refresh_shared_some<T, F>(
    cache: &'static SharedSite,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) where
    T: Clone + Send + Sync + 'static,
    Option<T>: SharedValue,
    F: Future<Output = Option<T>> + Send + 'static,
{
    match cache {
        SharedSite::Shared(shared) => {
            if let Some(missed) = key.0 {
                let own_ttl = lifetime.ttl_of();
                shared.refresh_in_background(missed, Option::is_some, own_ttl, AlwaysOk(body));
            }
        }
        SharedSite::MemoryOnly(memory) => super::refresh_some(memory, site, key, lifetime, body),
    }
}

/// The miss of a `shared` function with a soft timeout (`timeout` with
/// `stale`): with a value kept in memory, the caller waits for the shared
/// load at most the timeout, then gets the kept value.
pub fn soft_timeout_shared<V, F>(
    cache: &'static SharedSite,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<V>,
    body: F,
) -> impl Future<Output = V>
where
    V: SharedValue,
    F: Future<Output = V> + Send + 'static,
{
    Unwrapped(soft_timeout_shared_ok(
        cache,
        site,
        key,
        lifetime,
        AlwaysOk(body),
    ))
}

/// [`soft_timeout_shared`] for a body returning `Result`.
pub async fn soft_timeout_shared_ok<T, E, F>(
    cache: &'static SharedSite,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<T>,
    body: F,
) -> Result<T, E>
where
    T: SharedValue,
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    within(cache, site, key, keep_all, lifetime, body).await
}

/// [`soft_timeout_shared`] for a body returning `Option` with
/// `cache_none = false`.
pub async fn soft_timeout_shared_some<T, F>(
    cache: &'static SharedSite,
    site: &'static Site,
    key: MissedKey,
    lifetime: impl Lifetime<Option<T>>,
    body: F,
) -> Option<T>
where
    T: Clone + Send + Sync + 'static,
    Option<T>: SharedValue,
    F: Future<Output = Option<T>> + Send + 'static,
{
    Unwrapped(within(
        cache,
        site,
        key,
        Option::is_some,
        lifetime,
        AlwaysOk(body),
    ))
    .await
}

async fn within<V, E, F>(
    cache: &'static SharedSite,
    site: &'static Site,
    key: MissedKey,
    keep: fn(&V) -> bool,
    lifetime: impl Lifetime<V>,
    body: F,
) -> Result<V, E>
where
    V: SharedValue,
    E: Send + 'static,
    F: Future<Output = Result<V, E>> + Send + 'static,
{
    let timeout = site.soft_timeout.unwrap_or_default();
    match (cache, key.0) {
        (SharedSite::Shared(shared), Some(missed)) => {
            let own_ttl = lifetime.ttl_of();
            shared
                .load_within(missed, keep, own_ttl, timeout, body)
                .await
        }
        (SharedSite::Shared(shared), None) => {
            shared
                .load_missed(None, keep, lifetime.ttl_of(), body)
                .await
        }
        (SharedSite::MemoryOnly(memory), missed) => {
            let memory: &'static AsyncCache = memory;
            let ttl_of = lifespan_of(lifetime);
            let Some(missed) = missed else {
                return body.await;
            };
            match crate::cache::reload_within(memory, missed, site.own, keep, ttl_of, timeout, body)
                .await
            {
                crate::cache::Within::Value(result) => result,
                crate::cache::Within::Load(missed, body) => {
                    memory
                        .load_missed(Some(missed), &site.own, keep, ttl_of, body)
                        .await
                }
            }
        }
    }
}

/// Removes one call's entry from both tiers and every replica's memory.
pub async fn invalidate_shared(
    cache: &'static SharedSite,
    namespace: &'static str,
    key: EncodedKey,
) -> bool {
    match cache {
        SharedSite::Shared(shared) => match key.0.identity() {
            Ok(id) => shared.remove(id).await,
            Err(_) => false,
        },
        SharedSite::MemoryOnly(memory) => super::invalidate(memory, namespace, key).await,
    }
}

/// Removes every entry of the function, in both tiers and every replica.
pub async fn clear_shared(cache: &'static SharedSite, namespace: &'static str) {
    match cache {
        SharedSite::Shared(shared) => shared.clear().await,
        SharedSite::MemoryOnly(memory) => super::clear(memory, namespace).await,
    }
}

#[cfg(test)]
mod tests {
    use super::redis_name;

    #[test]
    fn redis_names_are_printable_and_one_to_one() {
        assert_eq!(redis_name("app::users::fetch"), "app::users::fetch");
        assert_eq!(
            redis_name("a::{{closure}}::f"),
            "a::_x7b_x7bclosure_x7d_x7d::f"
        );
        assert_ne!(redis_name("m::größe"), redis_name("m::grüße"));
        assert_ne!(redis_name("m::a_x7b"), redis_name("m::a{"));
        assert!(redis_name("m::größe").bytes().all(|b| b.is_ascii_graphic()));
    }
}
