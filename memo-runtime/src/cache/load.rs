//! The miss path: what every call that is not answered from memory goes
//! through, generated code and the API alike, async and blocking alike.
//!
//! ```text
//! lookup (store, counted) -> hit: return
//!   | miss: the key and its hash
//!   v
//! join (single flight) -> a value stored meanwhile: return
//!   | leader                          | waiter
//!   v                                 v
//! run the body                      wait for the leader's outcome
//!   v                                 ready: return / failed: run alone /
//! complete: store (unless doomed     abandoned: join again
//!   or not kept), publish to waiters stale: return the kept value
//!   | failed (Err or panic), with a value kept by `stale`:
//!   v
//! fall back: store the kept value again for `stale_retry`, hand it to the
//!   caller and the waiters instead of the failure
//! ```
//!
//! The shared tier will sit between `join` and the body (an L2 read, and
//! its cross-process lock). The two front-ends, [`AsyncCache::load_missed`]
//! and [`AsyncCache::load_missed_blocking`], differ only in how they run the
//! body and wait; the steps are the functions below them.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::AsyncCache;
use crate::flight::{Flight, Outcome, reentry};
use crate::freshness::{Lifespan, Own, Policy};
use crate::key::{CacheKey, Probe};
use crate::local::{Found, Keep, LeaderGuard, Role};
use crate::observe::source::{self, Source};
use crate::observe::{Event, trace};

/// The key of a call whose lookup missed, with the hash the lookup computed,
/// so the load does not compute it again.
pub(crate) struct Missed {
    pub(crate) key: CacheKey,
    pub(crate) hash: u64,
}

impl Missed {
    pub(crate) fn probe(&self) -> Probe<'_> {
        Probe {
            namespace: self.key.namespace(),
            id: self.key.id(),
            hash: self.hash,
        }
    }
}

/// What a caller whose lookup missed does next, as the loading core decides
/// it for both front-ends.
enum Next<'a, V> {
    /// Return this: a value stored meanwhile, or the one the flight shared
    /// (and where it came from).
    Value(V, Source),
    /// Run `init` as the flight's leader, then [`AsyncCache::complete`].
    Lead(LeaderGuard<'a>),
    /// Wait for the flight, then [`AsyncCache::waited`].
    Wait(Arc<Flight>),
    /// The flight failed: run `init` alone, and store nothing.
    RunAlone,
}

/// The `keep` of loads that store every value they load.
pub(crate) fn keep_all<V>(_: &V) -> bool {
    true
}

impl AsyncCache {
    /// Step one of every call: looks the key up, counting a hit or a miss.
    /// `None` when the cache is disabled (nothing is found, nothing counted).
    #[inline(always)]
    pub(crate) fn lookup<V: Clone + 'static>(
        &self,
        namespace: &'static str,
        id: &[u8],
    ) -> Option<Result<V, Missed>> {
        if !self.enabled {
            return None;
        }
        let probe = self.store.probe(namespace, id);
        Some(self.store.get(&probe).ok_or_else(|| Missed {
            key: CacheKey::from_parts(namespace, id),
            hash: probe.hash,
        }))
    }

    /// The API's loading methods: a lookup, then the miss path.
    pub(super) async fn load<V, E>(
        &self,
        namespace: &'static str,
        id: &[u8],
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
    {
        let missed = match self.lookup(namespace, id) {
            Some(Ok(value)) => return Ok(value),
            Some(Err(missed)) => Some(missed),
            None => None,
        };
        self.load_missed(missed, &Own::NONE, keep_all, |_| Lifespan::Settings, init)
            .await
    }

    /// Loads a key whose lookup missed (and was counted): joins the load in
    /// flight, or runs `init` as the single flight's leader. Without a key
    /// (caching off, or arguments that cannot be keyed), just runs `init`.
    /// An `Ok` value is stored with the freshness of `own` (the cache's
    /// settings where it has none) if `keep` says so, and shared with the
    /// waiters either way. With a `stale` window, a failed `init` (an `Err`
    /// or a panic) falls back on a kept value (see `finish_or_fall_back`).
    /// `ttl_of` may give the loaded value a lifespan of its own: a value
    /// that knows its TTL ([`Expiry`](crate::Expiry)), or a copy of one the
    /// shared tier keeps; [`Lifespan::Settings`] leaves it to `own`.
    #[inline(always)]
    pub(crate) fn load_missed<V, E>(
        &self,
        missed: Option<Missed>,
        own: &Own,
        keep: impl Fn(&V) -> bool,
        ttl_of: impl FnOnce(&V) -> Lifespan,
        init: impl Future<Output = Result<V, E>>,
    ) -> impl Future<Output = Result<V, E>>
    where
        V: Clone + Send + Sync + 'static,
    {
        self.load_missed_ttl_by(missed, own, ttl_of, keep, init)
    }

    /// [`load_missed`](Self::load_missed), its arguments in another order.
    pub(crate) async fn load_missed_ttl_by<V, E>(
        &self,
        missed: Option<Missed>,
        own: &Own,
        ttl_of: impl FnOnce(&V) -> Lifespan,
        keep: impl Fn(&V) -> bool,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
    {
        // Pinned once, so the two places that may run it share one copy.
        let mut init = pin!(init);
        let Some(missed) = missed else {
            let result = init.await;
            source::report(Source::Loaded);
            return result;
        };
        let probe = missed.probe();
        let mut next = self.join(&probe);
        loop {
            next = match next {
                Next::Value(value, from) => {
                    source::report(from);
                    return Ok(value);
                }
                Next::RunAlone => {
                    let result = init.await;
                    source::report(Source::Loaded);
                    return result;
                }
                Next::Lead(leader) => {
                    let policy = self.policy.with(own);
                    let running = reentry::Running::new(leader.load(), init.as_mut());
                    let running = trace::load("load", self.name(), &probe, running);
                    if policy.stale.is_zero() {
                        let result = running.await;
                        let value = result.as_ref().ok();
                        let lifespan = value.map_or(Lifespan::Settings, ttl_of);
                        self.complete(leader, &policy, lifespan, value, keep);
                        source::report(Source::Loaded);
                        return result;
                    }
                    // A kept value may stand in for a panic too.
                    let ran = CatchUnwind(running).await;
                    return self
                        .finish_or_fall_back(leader, &missed, &policy, ttl_of, ran, keep, true);
                }
                Next::Wait(flight) => {
                    let outcome = flight.wait::<V>().await;
                    self.waited(&probe, outcome)
                }
            }
        }
    }

    /// [`load_missed`](Self::load_missed) for a synchronous `init`: the same
    /// steps, with waiters blocking their thread.
    pub(crate) fn load_missed_blocking<V, E>(
        &self,
        missed: Option<Missed>,
        own: &Own,
        keep: impl Fn(&V) -> bool,
        ttl_of: impl FnOnce(&V) -> Lifespan,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
    {
        let Some(missed) = missed else {
            let result = init();
            source::report(Source::Loaded);
            return result;
        };
        let probe = missed.probe();
        let mut next = self.join(&probe);
        loop {
            next = match next {
                Next::Value(value, from) => {
                    source::report(from);
                    return Ok(value);
                }
                Next::RunAlone => {
                    let result = init();
                    source::report(Source::Loaded);
                    return result;
                }
                Next::Lead(leader) => {
                    let policy = self.policy.with(own);
                    if policy.stale.is_zero() {
                        // A panic in `init` drops `leader`, which abandons
                        // the flight: a waiter takes over.
                        let load = leader.load();
                        let result = trace::load_blocking(self.name(), &probe, || {
                            reentry::running(load, init)
                        });
                        let value = result.as_ref().ok();
                        let lifespan = value.map_or(Lifespan::Settings, ttl_of);
                        self.complete(leader, &policy, lifespan, value, keep);
                        source::report(Source::Loaded);
                        return result;
                    }
                    let load = leader.load();
                    let ran = catch_unwind(AssertUnwindSafe(|| {
                        trace::load_blocking(self.name(), &probe, || reentry::running(load, init))
                    }));
                    return self
                        .finish_or_fall_back(leader, &missed, &policy, ttl_of, ran, keep, true);
                }
                Next::Wait(flight) => {
                    let outcome = flight.wait_blocking::<V>();
                    self.waited(&probe, outcome)
                }
            }
        }
    }

    /// Joins the load in flight or leads a new one; a value stored since
    /// the lookup is returned at once.
    ///
    /// # Panics
    ///
    /// If the caller would wait on a load its own thread is running (see
    /// [`reentry`]).
    #[inline(always)]
    fn join<V: Clone + 'static>(&self, probe: &Probe<'_>) -> Next<'_, V> {
        let role = self.store.join_or_lead(probe, Found::into_fresh);
        match role {
            Err(stored_meanwhile) => {
                self.store.counters.record(Event::Coalesced);
                Next::Value(stored_meanwhile, Source::Hit)
            }
            Ok(Role::Leader(leader)) => Next::Lead(leader),
            Ok(Role::Waiter(flight, load)) => {
                reentry::check_wait(load, probe.namespace);
                Next::Wait(flight)
            }
        }
    }

    /// After a wait: what the flight's end means for the waiter.
    fn waited<V: Clone + 'static>(&self, probe: &Probe<'_>, outcome: Outcome<V>) -> Next<'_, V> {
        match outcome {
            Outcome::Ready(value) => {
                self.store.counters.record(Event::Coalesced);
                Next::Value(value, Source::Waited)
            }
            Outcome::Stale(value) => {
                self.store.counters.record(Event::StaleServed);
                Next::Value(value, Source::Stale)
            }
            // Each waiter runs its own `init` once, outside the flight.
            Outcome::Failed => Next::RunAlone,
            // Start over: the first waiter back becomes the new leader.
            Outcome::Abandoned => self.join(probe),
        }
    }

    /// For the leader: ends the flight with `value` (`None` when the load
    /// failed), storing it for `lifespan` (under `policy`) if `keep` says
    /// so and no invalidation doomed it.
    #[inline(always)]
    pub(super) fn complete<V: Clone + Send + Sync + 'static>(
        &self,
        leader: LeaderGuard,
        policy: &Policy,
        lifespan: Lifespan,
        value: Option<&V>,
        keep: impl Fn(&V) -> bool,
    ) {
        let freshness = policy.lifespan(lifespan);
        // A value whose own lifetime is zero (`Expiry`) is returned, not kept.
        let keep = value.is_some_and(keep) && !freshness.is_dead_on_arrival();
        let retrying = matches!(lifespan, Lifespan::Retrying(_));
        let keep = keep.then(|| self.store.keep(freshness, retrying));
        leader.complete(&self.store, value, keep);
    }

    /// For the leader of a load with a `stale` window: a value ends the
    /// flight as usual; a failure (an `Err`, or a panic caught in `ran`)
    /// falls back on the value kept under the key, if there is one, which
    /// the caller and the waiters get instead, and which is served as a hit
    /// for `stale_retry` before the body runs again. Without a kept value
    /// the failure goes on: the `Err` is returned, the panic resumed.
    // The leader's state, each piece used once; bundling them would only
    // move the list into a struct.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_or_fall_back<V, E>(
        &self,
        leader: LeaderGuard,
        missed: &Missed,
        policy: &Policy,
        ttl_of: impl FnOnce(&V) -> Lifespan,
        ran: std::thread::Result<Result<V, E>>,
        keep: impl Fn(&V) -> bool,
        for_a_caller: bool,
    ) -> Result<V, E>
    where
        V: Clone + Send + Sync + 'static,
    {
        let failure = match ran {
            // A body that waits for itself is a bug, not a failure: no kept
            // value may hide it.
            Err(panic) if reentry::is_reentry(&*panic) => {
                drop(leader);
                resume_unwind(panic)
            }
            Ok(Ok(value)) => {
                let lifespan = ttl_of(&value);
                self.complete(leader, policy, lifespan, Some(&value), keep);
                source::report(Source::Loaded);
                return Ok(value);
            }
            Ok(Err(err)) => Ok(err),
            Err(panic) => Err(panic),
        };
        match self.store.find_kept::<V>(&missed.probe()) {
            Some((kept, deadlines)) => {
                let now = self.store.now();
                let keep = Keep {
                    deadlines: policy.retrying(deadlines, now),
                    now,
                    retrying: true,
                };
                leader.complete_stale(&self.store, &kept, Some(keep));
                // A detached reload (soft timeout) serves no caller itself.
                if for_a_caller {
                    self.store.counters.record(Event::StaleServed);
                }
                source::report(Source::Stale);
                Ok(kept)
            }
            None => match failure {
                Ok(err) => {
                    self.complete(leader, policy, Lifespan::Settings, None, keep);
                    source::report(Source::Loaded);
                    Err(err)
                }
                // Dropping the guard abandons the flight: a waiter takes over.
                Err(panic) => {
                    drop(leader);
                    resume_unwind(panic)
                }
            },
        }
    }
}

/// A future that returns a panic of the future it wraps as an `Err`
/// instead of unwinding, so that a kept value can stand in for it.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; it is never moved
        // out of the pin.
        let inner = unsafe { self.map_unchecked_mut(|this| &mut this.0) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
