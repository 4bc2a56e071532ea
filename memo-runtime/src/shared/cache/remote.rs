//! The Redis side of a [`SharedCache`]: reads with their remaining TTL,
//! writes and deletes with their invalidation, and the cross-process load
//! lock with its waiters.

use super::*;

/// Releases a load lock only if this process still holds it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";

impl SharedCache {
    pub(super) fn key_of(&self, id: &[u8]) -> String {
        redis_key(self.prefix(), &self.inner.namespace, &hex(id))
    }

    pub(super) fn encode<V: SharedValue>(&self, value: &V) -> Option<Vec<u8>> {
        codec::encode(value, self.inner.version)
            .filter(|bytes| bytes.len() <= self.inner.max_value_bytes)
    }

    /// The value under `id` in Redis and its remaining TTL (capped at the
    /// default), read in one round trip; counts a shared hit, miss or error.
    pub(super) async fn read<V: SharedValue>(&self, id: &[u8]) -> Option<(V, Duration)> {
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
    pub(super) async fn write(&self, id: &[u8], bytes: Vec<u8>, ttl: Duration, kind: Kind) -> bool {
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
    pub(super) async fn delete_remote(&self, id: &[u8]) -> Option<bool> {
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
    pub(super) async fn load_across<V, E>(
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

    pub(super) async fn run_and_write<V, E>(
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
    pub(super) async fn wait_for_load<V: SharedValue>(
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
    pub(super) async fn peek<V: SharedValue>(&self, id: &[u8]) -> Option<(V, Duration)> {
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

    pub(super) async fn release(&self, lock: String, token: String) {
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
