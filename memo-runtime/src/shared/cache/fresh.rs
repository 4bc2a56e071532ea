//! Refresh-ahead and soft timeouts across replicas.
//!
//! ```text
//! refresh: a due copy in memory -> returned at once, and in the background:
//!   take the key's Redis lock -> won: run the body, write its value under
//!   |                            the lock, publish `set` (every replica
//!   |                            drops its older copy and reads the new one)
//!   | held by another replica: it refreshes; keep serving, look again
//!   |                          after the lock's lease
//!   | Redis down: run the body, keep its value in memory only
//! soft timeout: a miss with a kept value -> the shared load (Redis, the
//!   lock, the body) runs detached; the caller waits at most the timeout,
//!   then gets the kept value, and the load stores when it lands
//! ```
//!
//! One replica at a time refreshes a key: the lock is the one loads take,
//! so a refresh and a load of one key never run their bodies together.
//!
//! A refresh does not read Redis again once it holds the lock (a load
//! does): the values' ages in Redis run on real time, not on the cache's
//! clock, so they cannot say whether this replica's due copy is still the
//! newest. The price is one extra body run when a replica finds its copy
//! due in the moment between another replica's write and the arrival of
//! that write's `set`.

use super::*;
use crate::cache::{CatchUnwind, Looked, Within, reload_within, spawn_detached};
use crate::local::LeaderGuard;
use crate::observe::trace;
use remote::Write;

/// A [`SharedCache`]'s memory tier as an owned handle, for the detached
/// parts of a soft timeout.
#[derive(Clone)]
struct Memory(SharedCache);

impl std::ops::Deref for Memory {
    type Target = AsyncCache;

    fn deref(&self) -> &AsyncCache {
        self.0.memory()
    }
}

impl SharedCache {
    /// The value under `key`, or the output of `factory()`'s future, stored
    /// in both tiers and returned, as
    /// [`get_or_insert_with`](Self::get_or_insert_with) does; and, with
    /// [`refresh_after`], refresh-ahead across replicas: a value older than
    /// that is returned at once while one replica at a time reloads it in
    /// the background and publishes the new value to all of them.
    ///
    /// The factory and its future are owned (`Send + 'static`), because a
    /// background reload outlives the call; a call runs the factory at most
    /// once. See [`AsyncCache::get_or_refresh_with`] for the rest.
    ///
    /// [`refresh_after`]: crate::SharedCacheBuilder::refresh_after
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use memo_runtime::{SharedCache, SharedTier};
    ///
    /// // Nothing listens on this port: the cache works from memory.
    /// let tier = SharedTier::builder("redis://127.0.0.1:1")
    ///     .timeout(Duration::from_millis(20))
    ///     .build()
    ///     .unwrap();
    /// let rates = SharedCache::builder("rate", tier)
    ///     .default_ttl(Duration::from_secs(60))
    ///     .refresh_after(Duration::from_secs(50))
    ///     .build()
    ///     .unwrap();
    /// let rate = rates.get_or_refresh_with("EUR", || async { 108u32 }).await;
    /// assert_eq!(rate, 108);
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](Self::get_or_insert_with).
    pub async fn get_or_refresh_with<K, V, F, Fut>(&self, key: &K, factory: F) -> V
    where
        K: Serialize + ?Sized,
        V: SharedValue,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let loaded = self
            .try_get_or_refresh_with(key, move || {
                let load = factory();
                async move { Ok::<V, Infallible>(load.await) }
            })
            .await;
        match loaded {
            Ok(value) => value,
        }
    }

    /// [`get_or_refresh_with`](Self::get_or_refresh_with) for a fallible
    /// factory: an `Ok` is stored and shared; an `Err` of the caller's own
    /// load is returned (or, with [`stale`], answered by a kept value); an
    /// `Err` or a panic of a background reload keeps the old value and
    /// counts in [`CacheStats::refresh_errors`].
    ///
    /// With [`stale`] and [`soft_timeout`], a caller whose key expired in
    /// memory but is kept there waits at most the soft timeout for its
    /// load, then gets the kept value while the load goes on.
    ///
    /// [`stale`]: crate::SharedCacheBuilder::stale
    /// [`soft_timeout`]: crate::SharedCacheBuilder::soft_timeout
    /// [`CacheStats::refresh_errors`]: crate::CacheStats::refresh_errors
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](Self::get_or_insert_with).
    pub async fn try_get_or_refresh_with<K, V, E, F, Fut>(
        &self,
        key: &K,
        factory: F,
    ) -> Result<V, E>
    where
        K: Serialize + ?Sized,
        V: SharedValue,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let id = key_or_panic(key);
        let memory = self.memory();
        match memory.lookup_refreshing::<V>(self.memory_namespace(), &id) {
            Some(Looked::Hit(value)) => Ok(value),
            Some(Looked::Due(value, missed)) => {
                self.refresh_in_background(missed, keep_all, |_| None, factory());
                Ok(value)
            }
            Some(Looked::Miss(missed)) => match memory.soft_timeout {
                Some(timeout) => {
                    self.load_within(missed, keep_all, |_| None, timeout, factory())
                        .await
                }
                None => {
                    self.load_missed(Some(missed), keep_all, |_| None, factory())
                        .await
                }
            },
            None => factory().await,
        }
    }

    /// Reloads a key found due in memory, in the background, unless a load
    /// of it is in flight here or another replica holds its lock (it
    /// refreshes for every replica).
    pub(crate) fn refresh_in_background<V, E, F>(
        &self,
        missed: Missed,
        keep: fn(&V) -> bool,
        own_ttl: fn(&V) -> Option<Duration>,
        reload: F,
    ) where
        V: SharedValue,
        E: Send + 'static,
        F: Future<Output = Result<V, E>> + Send + 'static,
    {
        let Some(leader) = self
            .memory()
            .lead_refresh::<V>(&missed)
            .map(LeaderGuard::detach)
        else {
            return;
        };
        let this = self.clone();
        spawn_detached(async move {
            let memory = this.memory();
            let reload = trace::load("refresh", memory.name(), &missed.probe(), reload);
            match this
                .reload_across(missed.key.id(), keep, own_ttl, reload)
                .await
            {
                Some((ran, lifespan)) => {
                    let ttl_of = move |_: &V| lifespan;
                    memory.finish_refresh(leader, &missed, &Own::NONE, keep, ttl_of, ran);
                }
                None => {
                    // Its value will come with a `set` that drops this copy;
                    // if that replica fails, this one tries after the lease.
                    memory.postpone_refresh(&missed, this.inner.tier.inner.lock_lease);
                    drop(leader);
                    this.inner.deferred.fetch_add(1, SeqCst);
                }
            }
        });
    }

    /// The body of a refresh, under the key's Redis lock: `None` when
    /// another replica holds it; else what the body did and how long its
    /// value lives in memory. Redis gets the value (and every replica the
    /// `set`) while the lock is still held; with Redis down, only memory.
    async fn reload_across<V, E>(
        &self,
        id: &[u8],
        keep: fn(&V) -> bool,
        own_ttl: fn(&V) -> Option<Duration>,
        reload: impl Future<Output = Result<V, E>>,
    ) -> Option<(std::thread::Result<Result<V, E>>, Lifespan)>
    where
        V: SharedValue,
    {
        let guard = match self.try_lock(id).await {
            Some(Some(guard)) => Some(guard),
            Some(None) => return None,
            None => {
                self.memory().record(Event::SharedError);
                None
            }
        };
        self.memory().record(Event::RefreshStarted);
        let ran = CatchUnwind(reload).await;
        let ttl = match &ran {
            Ok(Ok(value)) => own_ttl(value).unwrap_or_else(|| self.drawn_ttl()),
            _ => self.drawn_ttl(),
        };
        if let Some(guard) = guard {
            if let Ok(Ok(value)) = &ran {
                let write = Write::Locked(&guard, Kind::Set);
                self.write_loaded(id, value, keep, ttl, write).await;
            }
            if !guard.release().await {
                // The lease frees it anyway.
                self.memory().record(Event::SharedError);
            }
        }
        Some((ran, Lifespan::Exactly(ttl)))
    }

    /// A miss with a soft timeout: with a value kept in memory, the shared
    /// load runs detached and the caller waits for it at most `timeout`,
    /// then gets the kept value; without one, the usual shared load.
    pub(crate) async fn load_within<V, E, F>(
        &self,
        missed: Missed,
        keep: fn(&V) -> bool,
        own_ttl: fn(&V) -> Option<Duration>,
        timeout: Duration,
        init: F,
    ) -> Result<V, E>
    where
        V: SharedValue,
        E: Send + 'static,
        F: Future<Output = Result<V, E>> + Send + 'static,
    {
        let learned = Arc::new(Learned::default());
        let load = {
            let (this, learned) = (self.clone(), learned.clone());
            let id = missed.key.id().to_vec();
            async move {
                this.load_through(&id, keep, own_ttl, init, &learned, false)
                    .await
            }
        };
        let ttl_of = {
            let learned = learned.clone();
            move |_: &V| learned.lifespan()
        };
        let memory = Memory(self.clone());
        match reload_within(memory, missed, Own::NONE, keep, ttl_of, timeout, load).await {
            Within::Value(result) => {
                // The detached load may have found the value in Redis.
                learned.report();
                result
            }
            Within::Load(missed, load) => self.load_in_memory(missed, keep, &learned, load).await,
        }
    }
}
