//! [`SharedCache`]: an in-memory [`AsyncCache`] in front of a
//! [`SharedTier`], behind the same methods.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use futures_util::future::Either;
use redis::aio::ConnectionManager;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::bus::{Kind, Local, random_id};
use super::codec::{self, decode};
use super::replay::{namespace_pattern, publish, unlink_matching};
use super::{DEFAULT_MAX_VALUE_BYTES, SharedTier, SharedTierError, hex, is_printable, redis_key};
use crate::cache::{Missed, keep_all};
use crate::key::{KeyBuf, encode_identity};
use crate::observe::Event;
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

/// Releases a load lock only if this process still holds it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";

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
#[derive(Clone)]
pub struct SharedCache {
    inner: Arc<Inner>,
}

struct Inner {
    local: Arc<Local>,
    tier: SharedTier,
    namespace: String,
    version: u32,
    default_ttl: Duration,
    max_value_bytes: usize,
}

/// Settings of a [`SharedCache`].
#[must_use = "call .build() to get the cache"]
pub struct SharedCacheBuilder {
    name: String,
    tier: SharedTier,
    memory: crate::AsyncCacheBuilder,
    default_ttl: Option<Duration>,
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
        self.default_ttl = Some(ttl);
        self.memory = self.memory.default_ttl(ttl);
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
        let default_ttl = self.default_ttl.unwrap_or(memory.default_ttl());
        let local = Arc::new(Local::new(memory, self.memory_namespace));
        self.tier.inner.bus.register(&self.name, &local);
        Ok(SharedCache {
            inner: Arc::new(Inner {
                local,
                tier: self.tier,
                namespace: self.name,
                version: self.version,
                default_ttl,
                max_value_bytes: self.max_value_bytes,
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
            default_ttl: None,
            version: 0,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            memory_namespace: "",
        }
    }

    /// The value under `key`: from memory, else from Redis (kept in memory
    /// for as long as Redis keeps it, or the default TTL if shorter).
    pub fn get<K, V>(&self, key: &K) -> impl Future<Output = Option<V>> + Send + '_
    where
        K: Serialize + ?Sized,
        V: SharedValue,
    {
        // The hit is answered before any future exists: a memory hit costs
        // what an `AsyncCache` hit does, and only a miss builds (and boxes)
        // the Redis read.
        let id = key_bytes(key);
        let memory = self.memory();
        match memory.get_id::<V>(self.memory_namespace(), &id) {
            Some(value) => Either::Left(std::future::ready(Some(value))),
            None if !memory.is_enabled() => Either::Left(std::future::ready(None)),
            None => Either::Right(Box::pin(self.read_into_memory(id))),
        }
    }

    /// `get` after a memory miss: Redis, then a copy in memory.
    async fn read_into_memory<V: SharedValue>(&self, id: KeyBuf) -> Option<V> {
        let id = &id[..];
        let epoch = self.inner.local.epoch.load(SeqCst);
        let (value, ttl) = self.read::<V>(id).await?;
        // An invalidation that arrived meanwhile wins.
        if self.inner.local.epoch.load(SeqCst) == epoch {
            self.memory()
                .store_id(self.memory_namespace(), id, value.clone(), ttl);
        }
        Some(value)
    }

    /// Stores `value` under `key` in both tiers with the default TTL.
    pub async fn set<K, V>(&self, key: &K, value: V)
    where
        K: Serialize + ?Sized,
        V: SharedValue,
    {
        self.set_with_ttl(key, value, self.inner.default_ttl).await;
    }

    /// Stores `value` under `key` in both tiers for `ttl`, and tells every
    /// other process to drop its in-memory copy. Returns once Redis has it.
    /// A zero `ttl` deletes the key instead.
    pub async fn set_with_ttl<K, V>(&self, key: &K, value: V, ttl: Duration)
    where
        K: Serialize + ?Sized,
        V: SharedValue,
    {
        let id = key_bytes(key);
        if ttl.is_zero() {
            self.remove(&id).await;
            return;
        }
        self.inner
            .tier
            .inner
            .bus
            .apply(Kind::Set, &self.inner.namespace, &id);
        let written = match self.encode(&value) {
            Some(bytes) => self.write(&id, bytes, ttl, Kind::Set).await,
            // Too large for Redis: no replica may keep the older value.
            None => self.delete_remote(&id).await.is_some(),
        };
        if !written {
            self.memory().record(Event::SharedError);
        }
        self.memory()
            .store_id(self.memory_namespace(), &id, value, ttl);
    }

    /// Removes `key` from both tiers and from every other process's memory;
    /// true if either tier had it.
    pub async fn delete<K: Serialize + ?Sized>(&self, key: &K) -> bool {
        self.remove(&key_bytes(key)).await
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
        let id = key_bytes(key);
        let missed = match self.memory().lookup::<V>(self.memory_namespace(), &id) {
            Some(Ok(value)) => return Ok(value),
            Some(Err(missed)) => Some(missed),
            // Caching is off: no tier at all.
            None => None,
        };
        self.load_missed(missed, init).await
    }

    /// After an in-memory miss: Redis, then a load across processes, behind
    /// the in-memory single flight. Without `missed` (caching off, or a key
    /// that could not be built), just runs `init`.
    pub(crate) async fn load_missed<V, E>(
        &self,
        missed: Option<Missed>,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        V: SharedValue,
    {
        let Some(missed) = missed else {
            return init.await;
        };
        let id = missed.key.id().to_vec();
        // The TTL of the in-memory copy: Redis's remaining one for a value
        // read from there, the default for one loaded here.
        let remaining = AtomicU64::new(0);
        let load = async {
            if let Some((value, ttl)) = self.read::<V>(&id).await {
                remaining.store(nanos(ttl), SeqCst);
                return Ok(value);
            }
            self.load_across(&id, init, &remaining).await
        };
        let ttl_of = || match remaining.load(SeqCst) {
            0 => Some(self.inner.default_ttl),
            n => Some(Duration::from_nanos(n)),
        };
        self.memory()
            .load_missed_ttl_by(Some(missed), ttl_of, keep_all, load)
            .await
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

    /// The name entries are shared under.
    pub fn name(&self) -> &str {
        &self.inner.namespace
    }

    pub(crate) fn memory(&self) -> &AsyncCache {
        &self.inner.local.cache
    }

    fn memory_namespace(&self) -> &'static str {
        self.inner.local.namespace
    }

    fn prefix(&self) -> &str {
        self.inner.tier.prefix()
    }

    fn key_of(&self, id: &[u8]) -> String {
        redis_key(self.prefix(), &self.inner.namespace, &hex(id))
    }

    fn encode<V: SharedValue>(&self, value: &V) -> Option<Vec<u8>> {
        codec::encode(value, self.inner.version)
            .filter(|bytes| bytes.len() <= self.inner.max_value_bytes)
    }

    /// The value under `id` in Redis and its remaining TTL (capped at the
    /// default), read in one round trip; counts a shared hit, miss or error.
    async fn read<V: SharedValue>(&self, id: &[u8]) -> Option<(V, Duration)> {
        let key = self.key_of(id);
        let read = self
            .inner
            .tier
            .run(|mut conn: ConnectionManager| async move {
                redis::pipe()
                    .cmd("GET")
                    .arg(&key)
                    .cmd("PTTL")
                    .arg(&key)
                    .query_async::<(Option<Vec<u8>>, i64)>(&mut conn)
                    .await
            })
            .await;
        let memory = self.memory();
        let Some((bytes, pttl)) = read else {
            memory.record(Event::SharedError);
            return None;
        };
        let Some(bytes) = bytes else {
            memory.record(Event::SharedMiss);
            return None;
        };
        match decode::<V>(&bytes, self.inner.version) {
            Ok(value) => {
                memory.record(Event::SharedHit);
                // -1: no expiry in Redis; the default TTL bounds the copy.
                let remaining =
                    u64::try_from(pttl).map_or(self.inner.default_ttl, Duration::from_millis);
                Some((value, remaining.min(self.inner.default_ttl)))
            }
            // Not a value of ours: a miss, and the next load overwrites it.
            Err(_) => {
                memory.record(Event::SharedError);
                memory.record(Event::SharedMiss);
                None
            }
        }
    }

    /// Writes `bytes` under `id` for `ttl` and publishes `kind`; whether
    /// Redis took it.
    async fn write(&self, id: &[u8], bytes: Vec<u8>, ttl: Duration, kind: Kind) -> bool {
        let key = self.key_of(id);
        let bus = &self.inner.tier.inner.bus;
        let (channel, message) = (
            bus.channel.clone(),
            bus.message(kind, &self.inner.namespace, id),
        );
        let millis = ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64;
        self.inner
            .tier
            .run(|mut conn| async move {
                redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg(bytes)
                    .arg("PX")
                    .arg(millis)
                    .ignore()
                    .cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&message)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
            .is_some()
    }

    /// Deletes `id` in Redis and publishes the invalidation; whether Redis
    /// had it (`None`: Redis could not be reached).
    async fn delete_remote(&self, id: &[u8]) -> Option<bool> {
        let key = self.key_of(id);
        let bus = &self.inner.tier.inner.bus;
        let (channel, message) = (
            bus.channel.clone(),
            bus.message(Kind::Delete, &self.inner.namespace, id),
        );
        self.inner
            .tier
            .run(|mut conn| async move {
                let (deleted,): (u64,) = redis::pipe()
                    .cmd("DEL")
                    .arg(&key)
                    .cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&message)
                    .ignore()
                    .query_async(&mut conn)
                    .await?;
                Ok(deleted > 0)
            })
            .await
    }

    pub(crate) async fn remove(&self, id: &[u8]) -> bool {
        let in_memory = self.memory().remove_key(self.memory_namespace(), id);
        self.inner
            .tier
            .inner
            .bus
            .apply(Kind::Delete, &self.inner.namespace, id);
        let remote = self.delete_remote(id).await;
        if remote.is_none() {
            self.memory().record(Event::SharedError);
            self.inner
                .tier
                .inner
                .replay
                .delete(&self.inner.namespace, hex(id));
        }
        in_memory || remote == Some(true)
    }

    /// A miss in both tiers: one process across the tier runs `init` under
    /// a Redis lock and writes its value; the others wait for it.
    async fn load_across<V, E>(
        &self,
        id: &[u8],
        init: impl Future<Output = Result<V, E>>,
        remaining: &AtomicU64,
    ) -> Result<V, E>
    where
        V: SharedValue,
    {
        let tier = &self.inner.tier;
        let key = self.key_of(id);
        let lock = redis_key(
            self.prefix(),
            &self.inner.namespace,
            &format!("lock:{}", hex(id)),
        );
        let token = random_id();
        let lease = tier.inner.lock_lease;
        let won = {
            let (lock, token) = (lock.clone(), token.clone());
            let lease_ms = lease.as_millis().max(1) as u64;
            tier.run(|mut conn| async move {
                let set: Option<String> = redis::cmd("SET")
                    .arg(&lock)
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(lease_ms)
                    .query_async(&mut conn)
                    .await?;
                Ok(set.is_some())
            })
            .await
        };
        match won {
            Some(true) => {
                // Another process may have stored it between our read and
                // the lock: look once more before running the body.
                let result = match self.read::<V>(id).await {
                    Some((value, ttl)) => {
                        remaining.store(nanos(ttl), SeqCst);
                        Ok(value)
                    }
                    None => self.run_and_write(id, init).await,
                };
                self.release(lock, token).await;
                result
            }
            Some(false) => {
                if let Some((value, ttl)) = self.wait_for_load::<V>(id, &key, lease).await {
                    remaining.store(nanos(ttl), SeqCst);
                    return Ok(value);
                }
                // The holder died or is slower than its lease.
                self.run_and_write(id, init).await
            }
            // Redis is unreachable: load here.
            None => init.await,
        }
    }

    async fn run_and_write<V, E>(
        &self,
        id: &[u8],
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        V: SharedValue,
    {
        let result = init.await;
        if let Ok(value) = &result
            && let Some(bytes) = self.encode(value)
            && !self
                .write(id, bytes, self.inner.default_ttl, Kind::Loaded)
                .await
        {
            self.memory().record(Event::SharedError);
        }
        result
    }

    /// Waits for another process's load of `id`: woken by its "loaded"
    /// message, polling Redis as a fallback, for at most `lease`.
    async fn wait_for_load<V: SharedValue>(
        &self,
        id: &[u8],
        key: &str,
        lease: Duration,
    ) -> Option<(V, Duration)> {
        let tier = &self.inner.tier;
        let notify = tier.inner.bus.load_waiter(key);
        let started = std::time::Instant::now();
        while started.elapsed() < lease {
            let waiter = notify.clone();
            // Armed before the read, so a message between the two is kept.
            let woken = tier.inner.worker.run(async move {
                let notified = waiter.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
            });
            if let Some(found) = self.peek::<V>(id).await {
                return Some(found);
            }
            woken.await;
        }
        None
    }

    /// [`read`](Self::read) without counting a miss (polling for a load).
    async fn peek<V: SharedValue>(&self, id: &[u8]) -> Option<(V, Duration)> {
        let key = self.key_of(id);
        let found = self
            .inner
            .tier
            .run(|mut conn: ConnectionManager| async move {
                redis::cmd("EXISTS")
                    .arg(&key)
                    .query_async::<bool>(&mut conn)
                    .await
            })
            .await;
        if found == Some(true) {
            self.read::<V>(id).await
        } else {
            None
        }
    }

    async fn release(&self, lock: String, token: String) {
        let released = self
            .inner
            .tier
            .run(|mut conn| async move {
                redis::cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(&lock)
                    .arg(&token)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
        if released.is_none() {
            // The lease frees it anyway.
            self.memory().record(Event::SharedError);
        }
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

/// The key's identity, in a stack buffer: nothing is allocated on a hit.
fn key_bytes<K: Serialize + ?Sized>(key: &K) -> KeyBuf {
    encode_identity(key).unwrap_or_else(|err| panic!("{err}"))
}

fn nanos(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX).max(1)
}
