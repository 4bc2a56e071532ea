//! [`SharedCache`]: an in-memory [`AsyncCache`] in front of a
//! [`SharedTier`], behind the same methods.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod fresh;
mod remote;

use remote::Read;

use super::bus::{Kind, Local, random_id};
use super::codec::{self, decode};
use super::replay::{namespace_pattern, publish, unlink_matching};
use super::{DEFAULT_MAX_VALUE_BYTES, SharedTier, SharedTierError, hex, is_printable, redis_key};
use crate::cache::{Missed, keep_all, key_or_panic};
use crate::freshness::{Freshness, Lifespan, Own};
use crate::key::KeyBuf;
use crate::observe::Event;
use crate::observe::source::{self, Source};
use crate::{AsyncCache, CacheStats, Eviction, ManualClock};

/// The values a shared cache holds: cloned out of memory, and written to
/// Redis in postcard. Implemented for every type that is `Serialize +
/// DeserializeOwned + Clone + Send + Sync + 'static`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the shared tier",
    label = "a shared value must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`",
    note = "derive `serde::Serialize` and `serde::Deserialize` (and `Clone`) on it, or remove `shared` to cache in memory only"
)]
pub trait SharedValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> SharedValue for V {}

/// A cache in two tiers: memory (an [`AsyncCache`], nanoseconds), then
/// Redis (a [`SharedTier`], one round trip), shared by every process that
/// uses the same tier and name.
///
/// Its methods mean what [`AsyncCache`]'s do, across both tiers: `get`
/// reads memory, then Redis (and keeps a copy of a Redis hit in memory, for
/// no longer than Redis keeps the value); `set` and `set_with_ttl` write
/// both; `delete` removes from both and tells every other process's memory
/// to drop its copy; `clear` does the same for the whole name. A load
/// (`get_or_insert_with`) runs once per key across processes: behind the
/// in-memory single flight, a Redis lock lets one process run the body
/// while the others wait for its value. While Redis is down, all of it
/// falls back to memory and local loads.
///
/// Keys are any `Serialize` value, as for [`AsyncCache`]; values are
/// `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), memo_runtime::SharedTierError> {
/// use std::time::Duration;
/// use memo_runtime::{SharedCache, SharedTier};
///
/// let tier = SharedTier::redis("redis://127.0.0.1:6379/0")?;
/// let prices = SharedCache::builder("price", tier)
///     .default_ttl(Duration::from_secs(60))
///     .max_size(10_000)
///     .build()?;
/// let price = prices.get_or_insert_with("sku-1", async { 1999u64 }).await;
/// assert_eq!(prices.get::<_, u64>("sku-1").await, Some(price));
/// prices.delete("sku-1").await; // gone from Redis and every replica's memory
/// # Ok(())
/// # }
/// ```
///
/// While Redis cannot be reached, the cache works from memory (this one
/// points at a port where nothing listens):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use memo_runtime::{SharedCache, SharedTier};
///
/// let tier = SharedTier::builder("redis://127.0.0.1:1")
///     .timeout(Duration::from_millis(20))
///     .build()
///     .unwrap();
/// let cache = SharedCache::builder("demo", tier).build().unwrap();
/// let value = cache.get_or_insert_with(&7u32, async { String::from("computed") }).await;
/// assert_eq!(value, "computed");
/// assert_eq!(cache.get::<_, String>(&7u32).await.as_deref(), Some("computed"));
/// assert!(cache.stats().shared_errors > 0); // Redis was skipped, and counted
/// # }
/// ```
#[derive(Clone)]
pub struct SharedCache {
    // The memory tier sits beside the shared state, not in it: a hit takes
    // one pointer hop more than an `AsyncCache` hit, not two.
    local: Arc<Local>,
    inner: Arc<Inner>,
}

struct Inner {
    tier: SharedTier,
    namespace: String,
    version: u32,
    max_value_bytes: usize,
    /// Refreshes of due keys left to the replica that held their lock.
    deferred: AtomicU64,
}

/// Settings of a [`SharedCache`].
#[must_use = "call .build() to get the cache"]
pub struct SharedCacheBuilder {
    name: String,
    tier: SharedTier,
    memory: crate::AsyncCacheBuilder,
    version: u32,
    max_value_bytes: usize,
    /// The namespace of the in-memory entries: empty for the API, a
    /// memoized function's own for the attribute.
    memory_namespace: &'static str,
}

impl SharedCacheBuilder {
    /// The TTL of entries stored without one of their own (in Redis and in
    /// memory). Must not be zero.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.memory = self.memory.default_ttl(ttl);
        self
    }

    /// Stale-if-error across replicas, as [`AsyncCacheBuilder::stale`]
    /// does in memory: Redis keeps each value `stale` past its TTL, and a
    /// load that fails (an `Err`) is answered by the kept value, from
    /// memory or, in a replica that has none, from Redis. The kept value is
    /// then served for `stale_retry` before the body runs again.
    ///
    /// [`AsyncCacheBuilder::stale`]: crate::AsyncCacheBuilder::stale
    pub fn stale(mut self, stale: Duration) -> Self {
        self.memory = self.memory.stale(stale);
        self
    }

    /// After a failed load answered by a kept value, how long that value is
    /// served before the body runs again; see
    /// [`AsyncCacheBuilder::stale_retry`](crate::AsyncCacheBuilder::stale_retry).
    pub fn stale_retry(mut self, retry: Duration) -> Self {
        self.memory = self.memory.stale_retry(retry);
        self
    }

    /// Spreads expiry, as [`AsyncCacheBuilder::jitter`] does: a value
    /// loaded (or `set`) with the default TTL lives a TTL drawn from
    /// `[ttl * (1 - jitter), ttl]`, the same in Redis and in every copy.
    ///
    /// [`AsyncCacheBuilder::jitter`]: crate::AsyncCacheBuilder::jitter
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.memory = self.memory.jitter(jitter);
        self
    }

    /// Time-to-idle of the copies in this process's memory, as
    /// [`AsyncCacheBuilder::time_to_idle`] does: a copy not hit for `idle`
    /// is dropped from memory. Redis keeps the value for its TTL, so the
    /// next call reads it from there.
    ///
    /// [`AsyncCacheBuilder::time_to_idle`]: crate::AsyncCacheBuilder::time_to_idle
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.memory = self.memory.time_to_idle(idle);
        self
    }

    /// Refresh-ahead across replicas, as [`AsyncCacheBuilder::refresh_after`]
    /// does in memory, for [`SharedCache::get_or_refresh_with`]: a value
    /// older than `refresh` is returned at once while one replica at a time
    /// (the one that takes the key's Redis lock) reloads it and publishes
    /// the new value to every replica. A copy read from Redis is due when
    /// the value is `refresh` old, counted from when it was written to
    /// Redis, not from when this replica read it.
    ///
    /// [`AsyncCacheBuilder::refresh_after`]: crate::AsyncCacheBuilder::refresh_after
    pub fn refresh_after(mut self, refresh: Duration) -> Self {
        self.memory = self.memory.refresh_after(refresh);
        self
    }

    /// A soft timeout for [`SharedCache::get_or_refresh_with`], as
    /// [`AsyncCacheBuilder::soft_timeout`] does in memory: with a value kept
    /// by [`stale`](Self::stale), a caller waits for the load at most this
    /// long, then gets the kept value while the load goes on.
    ///
    /// [`AsyncCacheBuilder::soft_timeout`]: crate::AsyncCacheBuilder::soft_timeout
    pub fn soft_timeout(mut self, timeout: Duration) -> Self {
        self.memory = self.memory.soft_timeout(timeout);
        self
    }

    /// The most entries this process keeps in memory (Redis keeps what its
    /// own memory policy allows).
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.memory = self.memory.max_size(max_size);
        self
    }

    /// The in-memory eviction policy.
    pub fn eviction(mut self, eviction: Eviction) -> Self {
        self.memory = self.memory.eviction(eviction);
        self
    }

    /// The clock of the in-memory copies (Redis keeps its own time).
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.memory = self.memory.clock(clock);
        self
    }

    /// Separates the entries written by an older value type: values stored
    /// under another version read as misses. Default 0.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The namespace of the in-memory entries (a memoized function's).
    pub(crate) fn memory_namespace(mut self, namespace: &'static str) -> Self {
        self.memory_namespace = namespace;
        self
    }

    /// Values whose encoding is longer stay in memory only. Default 1 MiB.
    pub fn max_value_bytes(mut self, max: usize) -> Self {
        self.max_value_bytes = max;
        self
    }

    /// Builds the cache.
    ///
    /// # Errors
    ///
    /// [`SharedTierError::Setting`] for a name that is not printable ASCII
    /// without spaces and braces, or a zero TTL or bound.
    pub fn build(self) -> Result<SharedCache, SharedTierError> {
        if !is_printable(&self.name) {
            return Err(SharedTierError::Setting(format!(
                "the shared cache name {:?} must be printable ASCII without spaces, `{{` or `}}`",
                self.name
            )));
        }
        let memory = self
            .memory
            .build()
            .map_err(|err| SharedTierError::Setting(err.to_string()))?;
        let local = Arc::new(Local::new(memory, self.memory_namespace));
        self.tier.inner.bus.register(&self.name, &local);
        // Listed under its name, or a memoized function's path; with the
        // pattern of its keys in Redis.
        let listed = match self.memory_namespace {
            "" => self.name.as_str(),
            function => function,
        };
        let in_redis = redis_key(self.tier.prefix(), &self.name, "*");
        local.cache.register(listed.into(), Some(in_redis.into()));
        Ok(SharedCache {
            local,
            inner: Arc::new(Inner {
                tier: self.tier,
                namespace: self.name,
                version: self.version,
                max_value_bytes: self.max_value_bytes,
                deferred: AtomicU64::new(0),
            }),
        })
    }
}

impl SharedCache {
    /// Starts the settings of a cache named `name` on `tier`. Processes
    /// (and caches) with one tier and one name share entries.
    pub fn builder(name: impl Into<String>, tier: SharedTier) -> SharedCacheBuilder {
        SharedCacheBuilder {
            name: name.into(),
            tier,
            memory: AsyncCache::builder(),
            version: 0,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            memory_namespace: "",
        }
    }

    /// The value under `key`: from memory, else from Redis (kept in memory
    /// for no longer than Redis keeps it fresh).
    #[inline]
    pub async fn get<K, V>(&self, key: &K) -> Option<V>
    where
        K: Serialize + ?Sized,
        V: SharedValue,
    {
        // A memory hit returns before the Redis read exists; the read is
        // boxed so that this future stays as small as `AsyncCache::get`'s.
        let id = key_or_panic(key);
        let memory = self.memory();
        if let Some(value) = memory.get_id::<V>(self.memory_namespace(), &id) {
            return Some(value);
        }
        if !memory.is_enabled() {
            return None;
        }
        Box::pin(self.read_into_memory(id)).await
    }

    /// `get` after a memory miss: Redis, then a copy in memory.
    async fn read_into_memory<V: SharedValue>(&self, id: KeyBuf) -> Option<V> {
        let id = &id[..];
        let epoch = self.local.epoch.load(SeqCst);
        // A value in its stale window is not a hit, as in memory.
        let Read::Fresh(value, copy) = self.read::<V>(id).await? else {
            return None;
        };
        // An invalidation that arrived meanwhile wins, also one that lands
        // between this check and the store (it is checked again after).
        if self.local.epoch.load(SeqCst) == epoch {
            self.memory()
                .store_id(self.memory_namespace(), id, value.clone(), copy);
            if self.local.epoch.load(SeqCst) != epoch {
                self.memory().remove_key(self.memory_namespace(), id);
            }
        }
        Some(value)
    }

    /// Stores `value` under `key` in both tiers with the default TTL.
    pub async fn set<K, V>(&self, key: &K, value: V)
    where
        K: Serialize + ?Sized,
        V: SharedValue,
    {
        let ttl = self.drawn_ttl();
        self.set_with_ttl(key, value, ttl).await;
    }

    /// Stores `value` under `key` in both tiers for `ttl`, and tells every
    /// other process to drop its in-memory copy. Returns once Redis has it.
    /// A zero `ttl` deletes the key instead.
    pub async fn set_with_ttl<K, V>(&self, key: &K, value: V, ttl: Duration)
    where
        K: Serialize + ?Sized,
        V: SharedValue,
    {
        let id = key_or_panic(key);
        self.set_id(&id, value, ttl).await;
    }

    /// [`set_with_ttl`](Self::set_with_ttl) of a built key.
    pub(crate) async fn set_id<V: SharedValue>(&self, id: &[u8], value: V, ttl: Duration) {
        if ttl.is_zero() {
            self.remove(id).await;
            return;
        }
        let bus = &self.inner.tier.inner.bus;
        bus.apply(Kind::Set, &self.inner.namespace, id);
        let epoch = self.local.epoch.load(SeqCst);
        let written = match self.encode(&value, ttl) {
            Some(bytes) => self.write(id, bytes, ttl, Kind::Set, false).await,
            // Too large for Redis: no replica may keep the older value.
            None => self.delete_remote(id).await.is_some(),
        };
        if !written {
            // Redis and the other replicas may keep the older value: delete
            // it there when Redis is back.
            self.memory().record(Event::SharedError);
            self.inner
                .tier
                .inner
                .replay
                .delete(&self.inner.namespace, hex(id));
        }
        // Copies read by this process while the write was on its way may
        // hold the older value: drop them, then keep ours, unless another
        // replica's change arrived meanwhile (Redis has that one).
        bus.apply(Kind::Set, &self.inner.namespace, id);
        if self.local.epoch.load(SeqCst) == epoch + 1 {
            let freshness = self.memory().policy.exactly(ttl);
            self.memory()
                .store_id(self.memory_namespace(), id, value, freshness);
        }
    }

    /// Removes `key` from both tiers and from every other process's memory;
    /// true if either tier had it.
    pub async fn delete<K: Serialize + ?Sized>(&self, key: &K) -> bool {
        self.remove(&key_or_panic(key)).await
    }

    /// Removes every entry of this cache's name, in both tiers and in every
    /// process's memory. Redis keys are found by `SCAN`, never `KEYS`.
    pub async fn clear(&self) {
        let bus = &self.inner.tier.inner.bus;
        bus.apply(Kind::Clear, &self.inner.namespace, &[]);
        let pattern = namespace_pattern(self.prefix(), &self.inner.namespace);
        let message = bus.message(Kind::Clear, &self.inner.namespace, &[]);
        let channel = bus.channel.clone();
        let deadline = self.inner.tier.inner.timeout * 20;
        let cleared = self
            .inner
            .tier
            .run_for(deadline, |mut conn| async move {
                unlink_matching(&mut conn, &pattern).await?;
                publish(&mut conn, &channel, &message).await
            })
            .await;
        if cleared.is_none() {
            self.memory().record(Event::SharedError);
            self.inner.tier.inner.replay.clear(&self.inner.namespace);
        }
    }

    /// The value under `key`, or the output of `init`, stored in both tiers
    /// and returned. `init` runs once per key across every process of the
    /// tier (while Redis is up; once per process while it is down).
    pub async fn get_or_insert_with<K, V>(&self, key: &K, init: impl Future<Output = V>) -> V
    where
        K: Serialize + ?Sized,
        V: SharedValue,
    {
        let loaded = self
            .try_get_or_insert_with(key, async { Ok::<V, Infallible>(init.await) })
            .await;
        match loaded {
            Ok(value) => value,
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with), for a fallible
    /// `init`: an `Ok` value is stored and shared, an `Err` is returned and
    /// stored nowhere.
    pub async fn try_get_or_insert_with<K, V, E>(
        &self,
        key: &K,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        K: Serialize + ?Sized,
        V: SharedValue,
    {
        let id = key_or_panic(key);
        let missed = match self.memory().lookup::<V>(self.memory_namespace(), &id) {
            Some(Ok(value)) => return Ok(value),
            Some(Err(missed)) => Some(missed),
            // Caching is off: no tier at all.
            None => None,
        };
        self.load_missed(missed, keep_all, |_| None, init).await
    }

    /// After an in-memory miss: Redis, then a load across processes, behind
    /// the in-memory single flight. Without `missed` (caching off, or a key
    /// that could not be built), just runs `init`. `own_ttl` is the value's
    /// say in its TTL (`Expiry`), in Redis and in memory alike.
    pub(crate) async fn load_missed<V, E>(
        &self,
        missed: Option<Missed>,
        keep: fn(&V) -> bool,
        own_ttl: fn(&V) -> Option<Duration>,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        V: SharedValue,
    {
        let Some(missed) = missed else {
            let result = init.await;
            source::report(Source::Loaded);
            return result;
        };
        let id = missed.key.id().to_vec();
        let learned = Learned::default();
        let load = self.load_through(&id, keep, own_ttl, init, &learned, true);
        self.load_in_memory(missed, keep, &learned, load).await
    }

    /// The in-memory miss path around `load` (a shared load that tells
    /// `learned` how long its value lives): single flight, then the value
    /// stored for its lifespan, and the call's source reported.
    pub(super) async fn load_in_memory<V, E>(
        &self,
        missed: Missed,
        keep: fn(&V) -> bool,
        learned: &Learned,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        V: SharedValue,
    {
        let ttl_of = |_: &V| learned.lifespan();
        let loaded = self
            .memory()
            .load_missed_ttl_by(Some(missed), &Own::NONE, ttl_of, keep, load)
            .await;
        learned.report();
        loaded
    }

    /// The load behind the in-memory single flight: Redis, else `init`
    /// across processes, else (it failed) the value Redis kept for its
    /// stale window. Tells `learned` how long the value lives in memory.
    /// A load `for_a_caller` that falls back serves a value stale; one
    /// detached behind a soft timeout serves nobody itself, and counts as a
    /// failed reload.
    pub(super) async fn load_through<V, E>(
        &self,
        id: &[u8],
        keep: fn(&V) -> bool,
        own_ttl: fn(&V) -> Option<Duration>,
        init: impl Future<Output = Result<V, E>>,
        learned: &Learned,
        for_a_caller: bool,
    ) -> Result<V, E>
    where
        V: SharedValue,
    {
        let kept = match self.read::<V>(id).await {
            Some(Read::Fresh(value, copy)) => {
                learned.set(Lifespan::Copy(copy));
                return Ok(value);
            }
            Some(Read::Stale(kept, left)) => Some((kept, left)),
            None => None,
        };
        // The TTL of a value loaded here, in Redis and in memory alike.
        let drawn = self.drawn_ttl();
        let ttl_for = |value: &V| own_ttl(value).unwrap_or(drawn);
        match (
            self.load_across(id, init, keep, ttl_for, learned).await,
            kept,
        ) {
            // Nothing kept in this replica's memory, but in Redis: it stands
            // in, and is served from memory for `stale_retry`, never longer
            // than Redis keeps it.
            (Err(_), Some((kept, left))) => {
                learned.set(Lifespan::Retrying(self.fallback_of(left)));
                self.memory().record(if for_a_caller {
                    Event::StaleServed
                } else {
                    Event::RefreshFailed
                });
                Ok(kept)
            }
            (result, _) => {
                if let Ok(value) = &result {
                    learned.set_if_unset(Lifespan::Exactly(ttl_for(value)));
                }
                result
            }
        }
    }

    /// How many entries this process holds in memory.
    pub fn len(&self) -> usize {
        self.memory().len()
    }

    /// Whether this process holds no entry in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Statistics of both tiers: the in-memory counters, and
    /// `shared_hits`, `shared_misses` and `shared_errors` for Redis.
    pub fn stats(&self) -> CacheStats {
        self.memory().stats()
    }

    /// How many loads of this process's memory tier are running (for tests
    /// to wait on).
    #[doc(hidden)]
    pub fn loads_in_flight(&self) -> usize {
        self.memory().loads_in_flight()
    }

    /// How many refreshes of due keys this cache left to another replica,
    /// which held the key's lock (for tests to wait on).
    #[doc(hidden)]
    pub fn refreshes_deferred(&self) -> u64 {
        self.inner.deferred.load(SeqCst)
    }

    /// The name entries are shared under.
    pub fn name(&self) -> &str {
        &self.inner.namespace
    }

    #[inline(always)]
    pub(crate) fn memory(&self) -> &AsyncCache {
        &self.local.cache
    }

    /// The TTL of a value loaded or `set` with the default: drawn with the
    /// memory tier's jitter, and the same in Redis and in memory.
    fn drawn_ttl(&self) -> Duration {
        self.memory().policy.freshness().ttl
    }

    /// The freshness of a memory copy of a Redis value written for
    /// `written` and still fresh for `left`: gone from memory when Redis
    /// drops it and, with `refresh`, due when the value is `refresh` old,
    /// as it is in the memory of the replica that wrote it.
    pub(super) fn copy_of(&self, left: Duration, written: Duration) -> Freshness {
        let policy = &self.memory().policy;
        Freshness {
            ttl: left,
            stale_for: policy.stale,
            // Its age is `written - left`; past `left` it is gone, not due.
            refresh: policy
                .refresh
                .map(|refresh| (left + refresh).saturating_sub(written)),
            idle: policy.idle,
        }
    }

    /// The freshness of a value Redis keeps `left` longer (in its stale
    /// window), served after a failed load: for `stale_retry`, then kept
    /// (for the next failure) as long as Redis keeps it.
    fn fallback_of(&self, left: Duration) -> Freshness {
        let retry = self.memory().policy.stale_retry.min(left);
        Freshness {
            ttl: retry,
            stale_for: left - retry,
            refresh: None,
            idle: None,
        }
    }

    /// How much longer than its TTL Redis keeps a value (stale-if-error).
    pub(super) fn stale(&self) -> Duration {
        self.memory().policy.stale
    }

    #[inline(always)]
    fn memory_namespace(&self) -> &'static str {
        self.local.namespace
    }

    fn prefix(&self) -> &str {
        self.inner.tier.prefix()
    }
}

impl fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCache")
            .field("name", &self.inner.namespace)
            .field("len", &self.len())
            .field("tier", &self.inner.tier)
            .finish_non_exhaustive()
    }
}

/// What a load learned of its value's lifespan in memory (a copy of
/// Redis's, a fallback, or its own TTL), for the miss path to store it
/// with.
#[derive(Default)]
pub(super) struct Learned(Mutex<Option<Lifespan>>);

impl Learned {
    fn set(&self, lifespan: Lifespan) {
        *self.0.lock() = Some(lifespan);
    }

    fn set_if_unset(&self, lifespan: Lifespan) {
        self.0.lock().get_or_insert(lifespan);
    }

    fn get(&self) -> Option<Lifespan> {
        *self.0.lock()
    }

    /// Where the call's value came from, if its own load learned it: Redis
    /// (stored there, or loaded by another process it waited for), or a
    /// value Redis kept, after a failure.
    pub(super) fn report(&self) {
        match self.get() {
            Some(Lifespan::Retrying(_)) => source::report(Source::Stale),
            Some(Lifespan::Copy(_)) if source::reported() == Source::Loaded => {
                source::report(Source::Shared);
            }
            _ => {}
        }
    }

    /// The lifespan the miss path stores the loaded value for; the
    /// settings if the load learned nothing.
    pub(super) fn lifespan(&self) -> Lifespan {
        self.get().unwrap_or(Lifespan::Settings)
    }
}
