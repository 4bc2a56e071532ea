//! Refresh-ahead: a value older than `refresh` (and younger than its TTL)
//! is returned at once, and one reload of its key starts in the background;
//! its value replaces the entry when it lands, so no caller waits for a
//! reload of a hot key.
//!
//! ```text
//! lookup_refreshing -> fresh: return it
//!   | due: return it, and unless a load of the key is in flight,
//!   |      lead one in the background (a task, or a thread for plain fns):
//!   |        Ok   -> stored as a new value, waiters get it
//!   |        fail -> the old value stays; not due again for `stale_retry`
//!   | miss: the usual miss path (load.rs)
//! ```
//!
//! The background reload is the single flight's leader, so callers whose
//! lookup misses meanwhile wait for it rather than loading again, and an
//! invalidation during it keeps its value out (the slot is doomed).

use std::future::Future;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use std::convert::Infallible;

use serde::Serialize;

use super::load::{CatchUnwind, Missed, keep_all};
use super::soft_timeout::{Within, reload_within};
use super::spawn::{spawn_detached, spawn_thread};
use super::{AsyncCache, key_or_panic};
use crate::freshness::{Lifespan, Own, settings};
use crate::key::CacheKey;
use crate::local::{Found, LeaderGuard, Role};
use crate::observe::{Event, trace};

/// What a lookup of a caller that refreshes ahead found.
pub(crate) enum Looked<V> {
    /// A fresh value.
    Hit(V),
    /// A value to return, due for a reload in the background.
    Due(V, Missed),
    /// Nothing to serve: the miss path.
    Miss(Missed),
}

impl AsyncCache {
    /// The value under `key`, or the output of `factory()`'s future,
    /// stored and returned, as [`get_or_insert_with`] does; and, with
    /// [`refresh_after`] set, refresh-ahead: a value older than that (and
    /// younger than its TTL) is returned at once, while one reload per key
    /// runs `factory()` in the background and replaces the entry when it
    /// lands. No caller of a hot key waits for a reload.
    ///
    /// The factory and its future are owned (`Send + 'static`) because a
    /// background reload outlives the call that started it; the cache is an
    /// `Arc` for the same reason (keep a `static` one in a
    /// `LazyLock<Arc<AsyncCache>>`). A call runs the factory at most once:
    /// for its own load (a miss) or for the background reload (a due
    /// value); a hit does not call it. Background reloads run on the
    /// current tokio runtime, or on a thread of their own outside one.
    ///
    /// [`get_or_insert_with`]: AsyncCache::get_or_insert_with
    /// [`refresh_after`]: crate::AsyncCacheBuilder::refresh_after
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](AsyncCache::get_or_insert_with).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use memo_runtime::{AsyncCache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache = Arc::new(
    ///     AsyncCache::builder()
    ///         .default_ttl(Duration::from_secs(60))
    ///         .refresh_after(Duration::from_secs(50))
    ///         .clock(clock.clone())
    ///         .build()
    ///         .unwrap(),
    /// );
    /// let price = |cents: u32| move || async move { cents };
    /// assert_eq!(cache.get_or_refresh_with("sku-1", price(1999)).await, 1999);
    /// clock.advance(Duration::from_secs(50));
    /// // Due: the old price at once, the new one loads in the background.
    /// assert_eq!(cache.get_or_refresh_with("sku-1", price(2499)).await, 1999);
    /// while cache.get::<_, u32>("sku-1").await != Some(2499) {
    ///     tokio::task::yield_now().await;
    /// }
    /// assert_eq!(cache.stats().refreshes, 1);
    /// # }
    /// ```
    pub async fn get_or_refresh_with<K, V, F, Fut>(self: &Arc<Self>, key: &K, factory: F) -> V
    where
        K: Serialize + ?Sized,
        V: Clone + Send + Sync + 'static,
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
    /// factory: an `Ok` is stored; an `Err` of the caller's own load is
    /// returned, as [`try_get_or_insert_with`] does; an `Err` (or a panic)
    /// of a background reload keeps the old value, counts in
    /// [`CacheStats::refresh_errors`], and the key is not reloaded again
    /// for `stale_retry`.
    ///
    /// With [`stale`] and [`soft_timeout`], a caller whose key has expired
    /// but is kept waits at most the soft timeout for its reload, then gets
    /// the kept value while the reload goes on.
    ///
    /// [`stale`]: crate::AsyncCacheBuilder::stale
    /// [`soft_timeout`]: crate::AsyncCacheBuilder::soft_timeout
    ///
    /// [`try_get_or_insert_with`]: AsyncCache::try_get_or_insert_with
    /// [`CacheStats::refresh_errors`]: crate::CacheStats::refresh_errors
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](AsyncCache::get_or_insert_with).
    pub async fn try_get_or_refresh_with<K, V, E, F, Fut>(
        self: &Arc<Self>,
        key: &K,
        factory: F,
    ) -> Result<V, E>
    where
        K: Serialize + ?Sized,
        V: Clone + Send + Sync + 'static,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let id = key_or_panic(key);
        match self.lookup_refreshing::<V>("", &id) {
            Some(Looked::Hit(value)) => Ok(value),
            Some(Looked::Due(value, missed)) => {
                let reload = factory();
                refresh_in_background(self.clone(), missed, Own::NONE, keep_all, settings, reload);
                Ok(value)
            }
            Some(Looked::Miss(missed)) => {
                let (missed, load) = match self.soft_timeout {
                    Some(timeout) => {
                        let load = factory();
                        let within = reload_within(
                            self.clone(),
                            missed,
                            Own::NONE,
                            keep_all,
                            settings,
                            timeout,
                            load,
                        );
                        match within.await {
                            Within::Value(result) => return result,
                            Within::Load(missed, load) => (missed, load),
                        }
                    }
                    None => (missed, factory()),
                };
                self.load_missed(Some(missed), &Own::NONE, keep_all, settings, load)
                    .await
            }
            None => factory().await,
        }
    }

    /// [`lookup`](Self::lookup) for callers that can reload in the
    /// background: a due value is told apart from a fresh one. Both count
    /// as hits. `None` when the cache is disabled.
    #[inline(always)]
    pub(crate) fn lookup_refreshing<V: Clone + 'static>(
        &self,
        namespace: &'static str,
        id: &[u8],
    ) -> Option<Looked<V>> {
        if !self.enabled {
            return None;
        }
        let probe = self.store.probe(namespace, id);
        let missed = || Missed {
            key: CacheKey::from_parts(namespace, id),
            hash: probe.hash,
        };
        Some(match self.store.get_refreshing(&probe) {
            Some((value, false)) => Looked::Hit(value),
            Some((value, true)) => Looked::Due(value, missed()),
            None => Looked::Miss(missed()),
        })
    }

    /// Leads the reload of a due key, unless a load of it is in flight
    /// (then that one will replace the value, and nothing starts) or one
    /// has just replaced it (the value found due is fresh now). The caller
    /// counts the refresh once its body runs.
    pub(crate) fn lead_refresh<V: Clone + 'static>(
        &self,
        missed: &Missed,
    ) -> Option<LeaderGuard<'_>> {
        let probe = missed.probe();
        let replaced = |found: Found<V>| matches!(found, Found::Fresh(_)).then_some(());
        match self.store.join_or_lead(&probe, replaced) {
            Ok(Role::Leader(leader)) => Some(leader),
            Ok(Role::Waiter(..)) | Err(()) => None,
        }
    }

    /// Makes the due entry of `missed` due again only `by` from now: another
    /// process refreshes it meanwhile.
    #[cfg(feature = "redis")]
    pub(crate) fn postpone_refresh(&self, missed: &Missed, by: std::time::Duration) {
        self.store.postpone_refresh(&missed.probe(), by);
    }

    /// Ends a background reload: a kept value replaces the entry; a failure
    /// (an `Err`, a panic) or a value not kept leaves the old value, not
    /// due again for `stale_retry`, so a failing body is not called on
    /// every hit.
    pub(crate) fn finish_refresh<V, E>(
        &self,
        leader: LeaderGuard,
        missed: &Missed,
        own: &Own,
        keep: fn(&V) -> bool,
        ttl_of: impl FnOnce(&V) -> Lifespan,
        ran: std::thread::Result<Result<V, E>>,
    ) where
        V: Clone + Send + Sync + 'static,
    {
        let policy = self.policy.with(own);
        let probe = missed.probe();
        // The old value is postponed before the flight ends, so that no
        // caller finds it due in between and starts another reload.
        match ran {
            // Shared with the waiters either way, as any load's value is.
            Ok(Ok(value)) => {
                let lifespan = ttl_of(&value);
                // A value not kept (a `None`, or an `Expiry` of zero) does
                // not replace the old one, which must not be due at once
                // again.
                if !keep(&value) || policy.lifespan(lifespan).is_dead_on_arrival() {
                    self.store.postpone_refresh(&probe, policy.stale_retry);
                }
                self.complete(leader, &policy, lifespan, Some(&value), keep);
            }
            Ok(Err(_)) | Err(_) => {
                self.store.postpone_refresh(&probe, policy.stale_retry);
                // Callers that missed meanwhile (the value expired while it
                // reloaded) get the value kept for them, as after any
                // failed load; the entry itself stays as it is.
                match self.store.find_kept::<V>(&probe) {
                    Some((kept, _)) => leader.complete_stale(&self.store, &kept, None),
                    None => leader.complete::<V>(&self.store, None, None),
                }
                self.store.counters.record(Event::RefreshFailed);
            }
        }
    }
}

/// Starts the background reload of a due key with `reload`, an owned
/// future, on the current tokio runtime (or a thread of its own when there
/// is none), unless a load of the key is in flight.
pub(crate) fn refresh_in_background<C, V, E, F>(
    cache: C,
    missed: Missed,
    own: Own,
    keep: fn(&V) -> bool,
    ttl_of: impl FnOnce(&V) -> Lifespan + Send + 'static,
    reload: F,
) where
    C: Deref<Target = AsyncCache> + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: Future<Output = Result<V, E>> + Send + 'static,
{
    let Some(leader) = cache.lead_refresh::<V>(&missed).map(LeaderGuard::detach) else {
        return;
    };
    cache.record(Event::RefreshStarted);
    let reload = trace::load("refresh", cache.name(), &missed.probe(), reload);
    let task = async move {
        let ran = CatchUnwind(reload).await;
        cache.finish_refresh(leader, &missed, &own, keep, ttl_of, ran);
    };
    spawn_detached(task);
}

/// [`refresh_in_background`] for a plain function's body, on a thread.
pub(crate) fn refresh_in_background_blocking<C, V, E, F>(
    cache: C,
    missed: Missed,
    own: Own,
    keep: fn(&V) -> bool,
    ttl_of: impl FnOnce(&V) -> Lifespan + Send + 'static,
    reload: F,
) where
    C: Deref<Target = AsyncCache> + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: FnOnce() -> Result<V, E> + Send + 'static,
{
    let Some(leader) = cache.lead_refresh::<V>(&missed).map(LeaderGuard::detach) else {
        return;
    };
    cache.record(Event::RefreshStarted);
    let work = move || {
        let probe = missed.probe();
        let ran = catch_unwind(AssertUnwindSafe(|| {
            trace::load_blocking(cache.name(), &probe, reload)
        }));
        cache.finish_refresh(leader, &missed, &own, keep, ttl_of, ran);
    };
    spawn_thread(work);
}
