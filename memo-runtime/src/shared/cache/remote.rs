//! The Redis side of a [`SharedCache`]: reads with their remaining TTL,
//! writes and deletes with their invalidation, and the cross-process load
//! lock with its waiters.

use super::*;

/// Releases a load lock only if this process still holds it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";

/// Stores a loaded value only while its loader still holds the lock: a
/// delete or clear meanwhile removed the lock, and the value must not land.
/// KEYS: value, lock; ARGV: bytes, ttl ms, token, channel, message.
const WRITE_IF_LOCKED: &str = "if redis.call('get', KEYS[2]) == ARGV[3] then \
                               redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
                               redis.call('publish', ARGV[4], ARGV[5]) \
                               return 1 else return 0 end";

/// `SET NX PX` for a cache with a stale window: sets (and publishes) when
/// the key is absent or only kept for its stale window (at most `ARGV[3]`
/// ms left). KEYS: value; ARGV: bytes, ttl ms, stale ms, channel, message.
const SET_IF_ABSENT_OR_STALE: &str = "local left = redis.call('pttl', KEYS[1]) \
    if left == -2 or (left >= 0 and left <= tonumber(ARGV[3])) then \
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
    redis.call('publish', ARGV[4], ARGV[5]) return 1 end return 0";

/// What a read of Redis found.
pub(super) enum Read<V> {
    /// A value still fresh, and the freshness of a copy of it in memory.
    Fresh(V, Freshness),
    /// A value in its stale window, kept this much longer: a fallback,
    /// not a hit.
    Stale(V, Duration),
}

/// How a loaded value is written to Redis.
pub(super) enum Write<'a> {
    /// Only while this lock is held (no delete or clear meanwhile), and
    /// published as this kind: `Loaded` after a miss (waiters read it),
    /// `Set` after a refresh (every replica drops its older copy).
    Locked(&'a LockGuard, Kind),
    /// Without the lock: only if no other process stored a value meanwhile.
    IfAbsent,
}

/// What a waiter for another process's load found.
enum Peeked<V> {
    Value(V, Freshness),
    /// Neither the value nor the lock: the holder gave up (an `Err`, a
    /// value too large, a cancelled load). Load here.
    Gone,
    /// The lock is still held.
    Waiting,
    /// Redis did not answer: load here rather than wait a lease.
    Failed,
}

/// Holds a load lock; releases it when dropped without
/// [`release`](LockGuard::release) (a cancelled or panicking load), so the
/// other processes do not wait out the lease.
pub(super) struct LockGuard {
    tier: SharedTier,
    lock: String,
    token: String,
    armed: bool,
}

impl LockGuard {
    pub(super) async fn release(mut self) -> bool {
        self.armed = false;
        let (lock, token) = (
            std::mem::take(&mut self.lock),
            std::mem::take(&mut self.token),
        );
        self.tier
            .run(move |conn| release(conn, lock, token))
            .await
            .is_some()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.armed {
            let (lock, token) = (
                std::mem::take(&mut self.lock),
                std::mem::take(&mut self.token),
            );
            let conn = self.tier.inner.conn.clone();
            self.tier.inner.worker.handle().spawn(async move {
                let _ = release(conn, lock, token).await;
            });
        }
    }
}

async fn release(
    mut conn: ConnectionManager,
    lock: String,
    token: String,
) -> redis::RedisResult<()> {
    redis::cmd("EVAL")
        .arg(RELEASE)
        .arg(1)
        .arg(&lock)
        .arg(&token)
        .query_async::<()>(&mut conn)
        .await
}

impl SharedCache {
    pub(super) fn key_of(&self, id: &[u8]) -> String {
        redis_key(self.prefix(), &self.inner.namespace, &hex(id))
    }

    /// The Redis key of `id`'s load lock (same hash slot as its value).
    fn lock_of(&self, id: &[u8]) -> String {
        redis_key(
            self.prefix(),
            &self.inner.namespace,
            &format!("lock:{}", hex(id)),
        )
    }

    /// `value`, written for `ttl`, as Redis keeps it; `None` if it is too
    /// large (or cannot be serialized).
    pub(super) fn encode<V: SharedValue>(&self, value: &V, ttl: Duration) -> Option<Vec<u8>> {
        codec::encode(value, self.inner.version, ttl)
            .filter(|bytes| bytes.len() <= self.inner.max_value_bytes)
    }

    /// The value under `id` in Redis and the freshness of a copy of it in
    /// memory (see [`copy_of`](Self::copy_of)), read in one round trip with
    /// its remaining TTL;
    /// counts a shared hit, miss or error. A value in its `stale` window
    /// (Redis keeps values `ttl + stale`) is `Read::Stale`: not a hit, but
    /// a fallback for a failed load.
    pub(super) async fn read<V: SharedValue>(&self, id: &[u8]) -> Option<Read<V>> {
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
        // -2: the key expired between the GET and the PTTL.
        let (Some(bytes), false) = (bytes, pttl == -2) else {
            memory.record(Event::SharedMiss);
            return None;
        };
        match decode::<V>(&bytes, self.inner.version) {
            Ok((value, written)) => {
                // -1: no expiry in Redis (set by hand); its TTL bounds it.
                let kept =
                    u64::try_from(pttl).map_or(self.kept_for(written), Duration::from_millis);
                let fresh = kept.saturating_sub(self.stale()).min(written);
                if fresh.is_zero() {
                    memory.record(Event::SharedMiss);
                    return Some(Read::Stale(value, kept));
                }
                memory.record(Event::SharedHit);
                Some(Read::Fresh(value, self.copy_of(fresh, written)))
            }
            // Not a value of ours: a miss, and the next load overwrites it.
            Err(_) => {
                memory.record(Event::SharedError);
                memory.record(Event::SharedMiss);
                None
            }
        }
    }

    /// How long Redis keeps a value that is fresh for `ttl`: its stale
    /// window longer, so that every replica can fall back on it.
    pub(super) fn kept_for(&self, ttl: Duration) -> Duration {
        ttl.saturating_add(self.stale())
    }

    /// Writes `bytes` under `id` for `ttl` and publishes `kind`; whether
    /// Redis took it. With `only_if_absent`, a value stored meanwhile by
    /// another process is kept (`SET NX`); without (a `set`), the key's load
    /// lock goes too, as with a delete: a load or refresh running now must
    /// not overwrite this value with its own.
    pub(super) async fn write(
        &self,
        id: &[u8],
        bytes: Vec<u8>,
        ttl: Duration,
        kind: Kind,
        only_if_absent: bool,
    ) -> bool {
        let key = self.key_of(id);
        let bus = &self.inner.tier.inner.bus;
        let (channel, message) = (
            bus.channel.clone(),
            bus.message(kind, &self.inner.namespace, id),
        );
        let millis = self
            .kept_for(ttl)
            .as_millis()
            .clamp(1, u128::from(u64::MAX)) as u64;
        if only_if_absent && !self.stale().is_zero() {
            // A value in its stale window counts as absent: it is what
            // this load replaces.
            let stale = self.stale().as_millis().min(u128::from(u64::MAX)) as u64;
            return self
                .inner
                .tier
                .run(|mut conn| async move {
                    redis::cmd("EVAL")
                        .arg(SET_IF_ABSENT_OR_STALE)
                        .arg(1)
                        .arg(&key)
                        .arg(bytes)
                        .arg(millis)
                        .arg(stale)
                        .arg(&channel)
                        .arg(&message)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await
                .is_some();
        }
        let lock = self.lock_of(id);
        self.inner
            .tier
            .run(|mut conn| async move {
                let mut pipe = redis::pipe();
                let set = pipe.cmd("SET").arg(&key).arg(bytes).arg("PX").arg(millis);
                if only_if_absent {
                    set.arg("NX");
                }
                set.ignore();
                if !only_if_absent {
                    pipe.cmd("DEL").arg(&lock).ignore();
                }
                pipe.cmd("PUBLISH")
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
    pub(super) async fn delete_remote(&self, id: &[u8]) -> Option<bool> {
        let (key, lock) = (self.key_of(id), self.lock_of(id));
        let bus = &self.inner.tier.inner.bus;
        let (channel, message) = (
            bus.channel.clone(),
            bus.message(Kind::Delete, &self.inner.namespace, id),
        );
        self.inner
            .tier
            .run(|mut conn| async move {
                // The lock too: a load running now must not store its value.
                let (deleted,): (u64,) = redis::pipe()
                    .cmd("DEL")
                    .arg(&key)
                    .cmd("DEL")
                    .arg(&lock)
                    .ignore()
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
        // Copies read by this process while the delete was on its way.
        self.inner
            .tier
            .inner
            .bus
            .apply(Kind::Delete, &self.inner.namespace, id);
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

    /// Takes `id`'s load lock for the tier's lease: `Some(None)` when
    /// another process holds it, `None` when Redis did not answer.
    pub(super) async fn try_lock(&self, id: &[u8]) -> Option<Option<LockGuard>> {
        let tier = &self.inner.tier;
        let (lock, token) = (self.lock_of(id), random_id());
        let lease_ms = tier.inner.lock_lease.as_millis().max(1) as u64;
        let won = {
            let (lock, token) = (lock.clone(), token.clone());
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
            .await?
        };
        Some(won.then(|| LockGuard {
            tier: tier.clone(),
            lock,
            token,
            armed: true,
        }))
    }

    /// A miss in both tiers: one process across the tier runs `init` under
    /// a Redis lock and writes its value; the others wait for it.
    pub(super) async fn load_across<V, E>(
        &self,
        id: &[u8],
        init: impl Future<Output = Result<V, E>>,
        keep: fn(&V) -> bool,
        ttl_for: impl Fn(&V) -> Duration,
        learned: &Learned,
    ) -> Result<V, E>
    where
        V: SharedValue,
    {
        match self.try_lock(id).await {
            Some(Some(guard)) => {
                // Another process may have stored it between our read and
                // the lock: look once more before running the body.
                let result = match self.read::<V>(id).await {
                    Some(Read::Fresh(value, copy)) => {
                        learned.set(Lifespan::Copy(copy));
                        Ok(value)
                    }
                    _ => {
                        let write = Write::Locked(&guard, Kind::Loaded);
                        self.run_and_write(id, init, keep, ttl_for, write).await
                    }
                };
                if !guard.release().await {
                    // The lease frees it anyway.
                    self.memory().record(Event::SharedError);
                }
                result
            }
            Some(None) => {
                let lease = self.inner.tier.inner.lock_lease;
                if let Some((value, copy)) = self.wait_for_load::<V>(id, lease).await {
                    learned.set(Lifespan::Copy(copy));
                    return Ok(value);
                }
                // The holder gave up, died, or is slower than its lease.
                self.run_and_write(id, init, keep, ttl_for, Write::IfAbsent)
                    .await
            }
            // Redis is unreachable: load here.
            None => init.await,
        }
    }

    /// Runs `init` and writes its `Ok` value for `ttl_for` it, as `write`
    /// says.
    pub(super) async fn run_and_write<V, E>(
        &self,
        id: &[u8],
        init: impl Future<Output = Result<V, E>>,
        keep: fn(&V) -> bool,
        ttl_for: impl Fn(&V) -> Duration,
        write: Write<'_>,
    ) -> Result<V, E>
    where
        V: SharedValue,
    {
        let result = init.await;
        if let Ok(value) = &result {
            self.write_loaded(id, value, keep, ttl_for(value), write)
                .await;
        }
        result
    }

    /// Writes a loaded (or reloaded) `value` for `ttl`, as `write` says,
    /// unless `keep` refuses it, it has no TTL to live (`Expiry`), or it is
    /// too large; counts a write Redis did not take.
    pub(super) async fn write_loaded<V: SharedValue>(
        &self,
        id: &[u8],
        value: &V,
        keep: fn(&V) -> bool,
        ttl: Duration,
        write: Write<'_>,
    ) {
        if !keep(value) || ttl.is_zero() {
            return;
        }
        let Some(bytes) = self.encode(value, ttl) else {
            return;
        };
        let written = match write {
            Write::Locked(guard, kind) => self.write_if_locked(id, bytes, guard, kind, ttl).await,
            Write::IfAbsent => self.write(id, bytes, ttl, Kind::Loaded, true).await,
        };
        if !written {
            self.memory().record(Event::SharedError);
        }
    }

    /// Writes a loaded value only while `guard`'s lock is still held (see
    /// [`WRITE_IF_LOCKED`]), publishing `kind`; whether Redis answered.
    async fn write_if_locked(
        &self,
        id: &[u8],
        bytes: Vec<u8>,
        guard: &LockGuard,
        kind: Kind,
        ttl: Duration,
    ) -> bool {
        let key = self.key_of(id);
        let bus = &self.inner.tier.inner.bus;
        let (channel, message) = (
            bus.channel.clone(),
            bus.message(kind, &self.inner.namespace, id),
        );
        let millis = self
            .kept_for(ttl)
            .as_millis()
            .clamp(1, u128::from(u64::MAX)) as u64;
        let (lock, token) = (guard.lock.clone(), guard.token.clone());
        self.inner
            .tier
            .run(|mut conn| async move {
                redis::cmd("EVAL")
                    .arg(WRITE_IF_LOCKED)
                    .arg(2)
                    .arg(&key)
                    .arg(&lock)
                    .arg(bytes)
                    .arg(millis)
                    .arg(&token)
                    .arg(&channel)
                    .arg(&message)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
            .is_some()
    }

    /// Waits for another process's load of `id`: woken by its "loaded"
    /// message, polling Redis as a fallback, for at most `lease`; gives up
    /// at once when the lock is gone without a value or Redis fails.
    async fn wait_for_load<V: SharedValue>(
        &self,
        id: &[u8],
        lease: Duration,
    ) -> Option<(V, Freshness)> {
        let tier = &self.inner.tier;
        let notify = tier.inner.bus.load_waiter(&self.key_of(id));
        let started = std::time::Instant::now();
        while started.elapsed() < lease {
            let waiter = notify.clone();
            // Armed before the look, so a message between the two is kept.
            let woken = tier.inner.worker.run(async move {
                let notified = waiter.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
            });
            match self.peek::<V>(id).await {
                Peeked::Value(value, copy) => return Some((value, copy)),
                Peeked::Gone | Peeked::Failed => return None,
                Peeked::Waiting => {}
            }
            woken.await;
        }
        None
    }

    /// Whether `id`'s value is there (then read it) or its lock still is.
    async fn peek<V: SharedValue>(&self, id: &[u8]) -> Peeked<V> {
        let (key, lock) = (self.key_of(id), self.lock_of(id));
        let found = self
            .inner
            .tier
            .run(|mut conn: ConnectionManager| async move {
                redis::pipe()
                    .cmd("EXISTS")
                    .arg(&key)
                    .cmd("EXISTS")
                    .arg(&lock)
                    .query_async::<(bool, bool)>(&mut conn)
                    .await
            })
            .await;
        match found {
            Some((true, lock_held)) => match self.read::<V>(id).await {
                Some(Read::Fresh(value, copy)) => Peeked::Value(value, copy),
                // The old value, kept while the holder reloads it.
                Some(Read::Stale(..)) if lock_held => Peeked::Waiting,
                _ => Peeked::Gone,
            },
            Some((false, true)) => Peeked::Waiting,
            Some((false, false)) => Peeked::Gone,
            None => Peeked::Failed,
        }
    }
}
