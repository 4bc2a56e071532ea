//! `AsyncCache`: the public API over the store and its loads in flight.
//! Its builder is in `builder.rs`; every load goes through `load.rs`.

mod builder;
mod load;
mod refresh;
mod soft_timeout;
mod spawn;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::config;
use crate::freshness::{Clock, Freshness, ManualClock, Policy};
use crate::key::{CacheKey, KeyBuf, KeyError, Probe, encode_identity};
use crate::local::Store;
use crate::local::policy::Eviction;
use crate::observe::{CacheStats, Event};

pub use builder::AsyncCacheBuilder;
#[cfg(feature = "redis")]
pub(crate) use load::CatchUnwind;
pub(crate) use load::{Missed, keep_all};
pub(crate) use refresh::{Looked, refresh_in_background, refresh_in_background_blocking};
pub(crate) use soft_timeout::{Within, reload_within, reload_within_blocking};
#[cfg(feature = "redis")]
pub(crate) use spawn::spawn_detached;

/// An in-memory cache for values of any type, with a TTL per entry, a bound on
/// its size, single-flight loads and statistics.
///
/// Keys are any `Serialize` value, turned into a canonical [`CacheKey`]: equal
/// values (maps and sets in any order, `&str` and `String`...) find the same
/// entry. Values are any `Clone + Send + Sync + 'static` type and are cloned
/// out on every hit, so wrap large values in an `Arc`. One cache holds values
/// of different types; asking for another type than was stored is a miss.
///
/// - **TTL**: an entry expires its TTL after it was stored, on a monotonic
///   clock, and is never returned after that, as the cache's clock tells
///   time: the system clock as a hit reads it lags by up to about a
///   millisecond (see [`AsyncCacheBuilder::default_ttl`]). Expired entries are reclaimed
///   when looked up and by [`cleanup_expired`](AsyncCache::cleanup_expired).
/// - **Bound**: [`len`](AsyncCache::len) never exceeds `max_size`. The
///   bound is split evenly among the cache's shards (at most one shard per
///   64 entries of bound, and four per core), and a new key that would pass
///   its shard's share evicts an entry of that shard. So a cache may evict a
///   little before it holds `max_size` entries, when more keys fall in one
///   shard than in another; one bounded below 128 has a single shard, and
///   its bound is exact. By default S3-FIFO chooses the entry
///   ([`Eviction::S3Fifo`]: entries hit since they were stored outlive
///   those that were not); [`Eviction::Fifo`] evicts the oldest stored one
///   of the shard (storing a key again moves it to the back).
/// - **Concurrency**: `Send + Sync`; a hit takes one shard's read lock; no lock
///   is held across an `.await`; every method returns without waiting on other
///   tasks except the loading ones, which wait for a load already running.
///   [`clear`](AsyncCache::clear) empties the shards one after another: a key
///   stored in a shard it has already emptied, while it runs, stays.
/// - **A value's `Clone`** runs on a hit while the key's shard is locked for
///   reading (and, when a miss finds a value stored a moment earlier, for
///   writing). It must not call into the same cache; a `Clone` that needs
///   the cache is a sign to store an `Arc` instead.
///
/// The methods are `async` so that a slower tier behind memory can be added
/// without changing them; today they complete without suspending.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::LazyLock;
/// use std::time::Duration;
/// use memo_runtime::AsyncCache;
///
/// static USERS: LazyLock<AsyncCache> = LazyLock::new(|| {
///     AsyncCache::builder()
///         .default_ttl(Duration::from_secs(60))
///         .max_size(10_000)
///         .build()
///         .expect("valid cache settings")
/// });
///
/// USERS.set(&("user", 7), String::from("Ada")).await;
/// assert_eq!(USERS.get::<_, String>(&("user", 7)).await.as_deref(), Some("Ada"));
/// assert!(USERS.delete(&("user", 7)).await);
/// assert!(USERS.is_empty());
/// # }
/// ```
pub struct AsyncCache {
    store: Store,
    /// TTL, stale window, retry throttle and jitter.
    pub(crate) policy: Policy,
    /// How long `get_or_refresh_with` waits for the reload of a kept key.
    pub(crate) soft_timeout: Option<Duration>,
    /// [`Config::enabled`](crate::Config::enabled) when the cache was built
    /// (the config cannot change after that): off, nothing is stored or found.
    enabled: bool,
    /// A memoized function's own cache, not yet in the registry: its first
    /// miss lists it under the function's namespace (which a `static`'s
    /// initializer cannot name for a method).
    unnamed_function: AtomicBool,
}

impl Default for AsyncCache {
    fn default() -> Self {
        AsyncCache::new()
    }
}

impl fmt::Debug for AsyncCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCache")
            .field("len", &self.len())
            .field("max_size", &self.max_size())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl AsyncCache {
    /// A cache with the global defaults (see [`configure`](crate::configure)):
    /// TTL 300 s and `max_size` 1000 unless configured otherwise.
    ///
    /// ```
    /// let cache = memo_runtime::AsyncCache::new();
    /// assert_eq!(cache.max_size(), 1000);
    /// ```
    pub fn new() -> Self {
        let global = config::current_config();
        // `configure` validated these; the defaults are valid too.
        let max_size = NonZeroUsize::new(global.get_max_size()).unwrap_or(NonZeroUsize::MIN);
        AsyncCache::with_settings(
            global.policy(),
            max_size,
            global.get_eviction(),
            global.get_clock(),
            global.is_enabled(),
        )
    }

    /// Starts a builder for a cache with its own settings.
    ///
    /// ```
    /// let cache = memo_runtime::AsyncCache::builder().max_size(10).build().unwrap();
    /// assert!(cache.is_empty());
    /// ```
    pub fn builder() -> AsyncCacheBuilder {
        AsyncCacheBuilder::default()
    }

    fn with_settings(
        policy: Policy,
        max_size: NonZeroUsize,
        eviction: Eviction,
        clock: Option<&ManualClock>,
        enabled: bool,
    ) -> Self {
        let clock = clock.map_or_else(Clock::system, |manual| Clock::from(manual.clone()));
        let store = Store::new(max_size, eviction, clock);
        AsyncCache {
            store,
            policy,
            soft_timeout: None,
            enabled,
            unnamed_function: AtomicBool::new(false),
        }
    }

    /// The TTL of entries stored without one of their own.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(memo_runtime::AsyncCache::new().default_ttl(), Duration::from_secs(300));
    /// ```
    pub fn default_ttl(&self) -> Duration {
        self.policy.ttl
    }

    /// How this cache chooses what to evict.
    ///
    /// ```
    /// use memo_runtime::{AsyncCache, Eviction};
    /// assert_eq!(AsyncCache::new().eviction(), Eviction::S3Fifo);
    /// ```
    pub fn eviction(&self) -> Eviction {
        self.store.eviction()
    }

    /// The most entries this cache holds.
    ///
    /// ```
    /// assert_eq!(memo_runtime::AsyncCache::builder().max_size(5).build().unwrap().max_size(), 5);
    /// ```
    pub fn max_size(&self) -> usize {
        self.store.max_size()
    }

    /// Stores `value` under `key` with the default TTL, replacing what was
    /// there; the entry becomes the newest.
    ///
    /// # Panics
    ///
    /// If `key`'s `Serialize` implementation fails (see [`CacheKey::try_of`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = memo_runtime::AsyncCache::new();
    /// cache.set("answer", 42u32).await;
    /// assert_eq!(cache.get::<_, u32>("answer").await, Some(42));
    /// # }
    /// ```
    pub async fn set<K, V>(&self, key: &K, value: V)
    where
        K: Serialize + ?Sized,
        V: Send + Sync + 'static,
    {
        self.store_under(key, value, self.policy.freshness());
    }

    /// Stores `value` under `key` for `ttl`. A zero `ttl` would expire the
    /// value as it is stored, so it removes the key's entry instead.
    ///
    /// # Panics
    ///
    /// If `key`'s `Serialize` implementation fails (see [`CacheKey::try_of`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let cache = memo_runtime::AsyncCache::new();
    /// cache.set_with_ttl("token", "abc", Duration::from_secs(5)).await;
    /// assert_eq!(cache.get::<_, &str>("token").await, Some("abc"));
    /// # }
    /// ```
    pub async fn set_with_ttl<K, V>(&self, key: &K, value: V, ttl: Duration)
    where
        K: Serialize + ?Sized,
        V: Send + Sync + 'static,
    {
        self.store_under(key, value, self.policy.exactly(ttl));
    }

    /// The value stored under `key`, if there is one, it has not expired, and
    /// it is a `V`. A stored `None`, `0` or `""` is a value like any other.
    ///
    /// # Panics
    ///
    /// If `key`'s `Serialize` implementation fails (see [`CacheKey::try_of`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = memo_runtime::AsyncCache::new();
    /// cache.set(&1u64, None::<String>).await;
    /// assert_eq!(cache.get::<_, Option<String>>(&1u64).await, Some(None));
    /// // Another type than was stored: a miss, not a panic.
    /// assert_eq!(cache.get::<_, String>(&1u64).await, None);
    /// # }
    /// ```
    pub async fn get<K, V>(&self, key: &K) -> Option<V>
    where
        K: Serialize + ?Sized,
        V: Clone + 'static,
    {
        let id = key_or_panic(key);
        self.get_id("", &id)
    }

    /// Removes the entry under `key`; true if there was one. A load of `key`
    /// in flight is not stored when it finishes.
    ///
    /// # Panics
    ///
    /// If `key`'s `Serialize` implementation fails (see [`CacheKey::try_of`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = memo_runtime::AsyncCache::new();
    /// cache.set("k", 1).await;
    /// assert!(cache.delete("k").await);
    /// assert!(!cache.delete("k").await);
    /// # }
    /// ```
    pub async fn delete<K: Serialize + ?Sized>(&self, key: &K) -> bool {
        let id = key_or_panic(key);
        self.remove(&self.store.probe("", &id))
    }

    /// Removes every entry; loads in flight are not stored when they finish.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = memo_runtime::AsyncCache::new();
    /// cache.set("a", 1).await;
    /// cache.set("b", 2).await;
    /// cache.clear().await;
    /// assert!(cache.is_empty());
    /// # }
    /// ```
    pub async fn clear(&self) {
        self.clear_all();
    }

    /// Removes every expired entry now, rather than when it is next looked
    /// up; returns how many it removed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let cache = memo_runtime::AsyncCache::new();
    /// cache.set_with_ttl("short", 1, Duration::from_millis(1)).await;
    /// cache.set("long", 2).await;
    /// tokio::time::sleep(Duration::from_millis(20)).await;
    /// assert_eq!(cache.cleanup_expired().await, 1);
    /// assert_eq!(cache.len(), 1);
    /// # }
    /// ```
    pub async fn cleanup_expired(&self) -> usize {
        self.store.cleanup_expired()
    }

    /// How many entries are stored, expired ones not yet reclaimed included.
    /// Never more than [`max_size`](AsyncCache::max_size).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = memo_runtime::AsyncCache::new();
    /// cache.set("a", 1).await;
    /// assert_eq!(cache.len(), 1);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no entry is stored.
    ///
    /// ```
    /// assert!(memo_runtime::AsyncCache::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of this cache's counters.
    ///
    /// ```
    /// let stats = memo_runtime::AsyncCache::new().stats();
    /// assert_eq!(stats.hits + stats.misses, 0);
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.store.stats()
    }

    /// The value under `key`, or the output of `init`, which is stored with
    /// the default TTL and returned.
    ///
    /// Single flight: while one caller's `init` runs for a key, other callers
    /// of the same key wait for its value instead of running their own `init`;
    /// callers of other keys never wait. If the running caller is dropped or
    /// its `init` panics, a waiting caller runs its own `init` in its place.
    /// If the key is deleted or the cache cleared while `init` runs, the value
    /// is still returned to the callers but not stored.
    ///
    /// # Panics
    ///
    /// If `key`'s `Serialize` implementation fails (see [`CacheKey::try_of`]),
    /// or if `init` panics (in the caller that ran it). And if `init` itself
    /// loads the same key of the same cache (directly or through other
    /// calls), which would wait for its own value forever: that inner call
    /// panics, with a message saying so, instead of hanging. Only calls made
    /// while `init` is being polled are seen: an `init` that spawns a task
    /// loading the key and then awaits that task still hangs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = memo_runtime::AsyncCache::new();
    /// let v = cache.get_or_insert_with(&("user", 1), async { String::from("Ada") }).await;
    /// assert_eq!(v, "Ada");
    /// // The second call is answered from the cache; its `init` never runs.
    /// let v = cache.get_or_insert_with(&("user", 1), async { String::from("Grace") }).await;
    /// assert_eq!(v, "Ada");
    /// # }
    /// ```
    pub async fn get_or_insert_with<K, V>(&self, key: &K, init: impl Future<Output = V>) -> V
    where
        K: Serialize + ?Sized,
        V: Clone + Send + Sync + 'static,
    {
        let id = key_or_panic(key);
        let loaded = self.load("", &id, async { Ok::<V, Infallible>(init.await) });
        match loaded.await {
            Ok(value) => value,
        }
    }

    /// Like [`get_or_insert_with`](AsyncCache::get_or_insert_with), for a
    /// fallible `init`: an `Ok` value is stored and shared, an `Err` is
    /// returned and not stored.
    ///
    /// Callers that were waiting on a load that failed do not wait for a
    /// second one: each runs its own `init` once, at the same time, and gets
    /// its own result, which is returned but not stored (it ran outside the
    /// single flight, so an invalidation could not have stopped it). Their
    /// wait is bounded by one more run of `init`, and a failing backend sees
    /// one retry per waiting caller at once rather than a queue of them.
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](AsyncCache::get_or_insert_with).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = memo_runtime::AsyncCache::new();
    /// let failed = cache.try_get_or_insert_with(&7, async { Err::<u32, _>("down") }).await;
    /// assert_eq!(failed, Err("down"));
    /// assert!(cache.is_empty());
    /// let loaded = cache.try_get_or_insert_with(&7, async { Ok::<_, &str>(42u32) }).await;
    /// assert_eq!(loaded, Ok(42));
    /// assert_eq!(cache.get::<_, u32>(&7).await, Some(42));
    /// # }
    /// ```
    pub async fn try_get_or_insert_with<K, V, E>(
        &self,
        key: &K,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        K: Serialize + ?Sized,
        V: Clone + Send + Sync + 'static,
    {
        let id = key_or_panic(key);
        self.load("", &id, init).await
    }

    /// `set` and `set_with_ttl`: stores `value`, or, when its freshness
    /// would expire it on arrival, removes what the key held.
    fn store_under<K, V>(&self, key: &K, value: V, freshness: Freshness)
    where
        K: Serialize + ?Sized,
        V: Send + Sync + 'static,
    {
        let id = key_or_panic(key);
        if !self.enabled {
            return;
        }
        if freshness.is_dead_on_arrival() {
            self.remove_key("", &id);
            return;
        }
        self.store_id("", &id, value, freshness);
    }

    pub(crate) fn remove(&self, probe: &Probe<'_>) -> bool {
        self.store.remove(probe)
    }

    /// Expires the entry of `id` now (it stays for what is left of its
    /// stale window) and dooms the loads of it in flight, which started
    /// before: the next call of the key loads.
    pub(crate) fn expire_key(&self, namespace: &'static str, id: &[u8]) {
        let probe = self.store.probe(namespace, id);
        self.store.expire(&probe);
    }

    /// Marks a memoized function's own cache, to be listed in the registry
    /// under the function's namespace on its first miss.
    pub(crate) fn name_on_first_miss(self) -> Self {
        self.unnamed_function.store(true, Relaxed);
        self
    }

    /// After a miss in `namespace`: lists a function's own cache in the
    /// registry the first time.
    #[inline(always)]
    pub(crate) fn missed_in(&self, namespace: &'static str) {
        if self.unnamed_function.load(Relaxed) {
            self.name_function(namespace);
        }
    }

    #[cold]
    #[inline(never)]
    fn name_function(&self, namespace: &'static str) {
        if self.unnamed_function.swap(false, Relaxed) {
            self.register(namespace.into(), None);
        }
    }

    /// The cache's name in the registry (`unnamed` if it is not listed).
    pub(crate) fn name(&self) -> &str {
        self.store.counters.name()
    }

    /// Lists this cache in the registry under `name`.
    pub(crate) fn register(&self, name: Arc<str>, shared: Option<Arc<str>>) {
        self.store.counters.name_as(name.clone());
        crate::observe::registry::register(name, shared, self.store.gauge());
    }

    pub(crate) fn remove_key(&self, namespace: &'static str, id: &[u8]) -> bool {
        self.remove(&self.store.probe(namespace, id))
    }

    /// [`clear`](Self::clear), for callers that cannot await.
    pub(crate) fn clear_all(&self) {
        self.store.clear();
    }

    pub(crate) fn clear_namespace(&self, namespace: &'static str) {
        self.store.clear_namespace(namespace);
    }

    /// The value under the key `id` of `namespace`, counting a hit or a miss
    /// (nothing when caching is off): `get` for callers with a built key.
    #[inline(always)]
    pub(crate) fn get_id<V: Clone + 'static>(
        &self,
        namespace: &'static str,
        id: &[u8],
    ) -> Option<V> {
        if !self.enabled {
            return None;
        }
        self.store.get(&self.store.probe(namespace, id))
    }

    /// Counts an event that happened around this cache (a background
    /// reload's, the shared tier's).
    pub(crate) fn record(&self, event: Event) {
        self.store.counters.record(event);
    }

    /// Stores `value` under the key `id` of `namespace` (nothing when
    /// caching is off, or when `freshness` would expire it on arrival):
    /// `set` for callers with a built key, such as the shared tier's copies,
    /// whose TTL Redis tells.
    pub(crate) fn store_id<V: Send + Sync + 'static>(
        &self,
        namespace: &'static str,
        id: &[u8],
        value: V,
        freshness: Freshness,
    ) {
        if !self.enabled || freshness.is_dead_on_arrival() {
            return;
        }
        let probe = self.store.probe(namespace, id);
        let keep = self.store.keep(freshness, false);
        let key = CacheKey::from_parts(namespace, id);
        self.store.insert(key, probe.hash, value, keep);
    }

    /// Whether caching is on for this cache (`Config::enabled`).
    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn count_key_error(&self) {
        self.store.counters.record(Event::KeyError);
    }

    /// How many loads are running (for tests of single flight).
    #[doc(hidden)]
    pub fn loads_in_flight(&self) -> usize {
        self.store.loads_in_flight()
    }

    /// How many callers wait on loads that are running (for tests).
    #[doc(hidden)]
    pub fn waiters_in_flight(&self) -> usize {
        self.store.load_waiters()
    }
}

/// The identity of `key`; panics with the key error's message (the API
/// documents it) if its `Serialize` fails.
pub(crate) fn key_or_panic<K: Serialize + ?Sized>(key: &K) -> KeyBuf {
    encode_identity(key).unwrap_or_else(|err: KeyError| panic!("{err}"))
}
