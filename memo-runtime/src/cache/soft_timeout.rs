//! Soft timeouts (`timeout` with `stale`): a reload of an expired key that
//! has a kept value runs detached; the caller waits for it at most the soft
//! timeout, then gets the kept value while the reload goes on and stores
//! its value when it lands. Callers that find a reload of the key already
//! running get the kept value at once.
//!
//! ```text
//! miss, a kept value -> a load in flight: the kept value, at once
//!   | none: lead a reload detached, and wait for it up to `timeout`
//!   |   lands in time -> its value (or, if it failed, the kept one)
//!   |   still running -> the kept value; the reload stores when it lands
//! miss, nothing kept -> the usual miss path (the caller waits)
//! ```
//!
//! The soft timeout is real time (a caller's patience), not the cache's
//! clock, measured by tokio's timer: an async caller outside a tokio runtime
//! waits for the reload instead (the runtime needs its time driver, which
//! `#[tokio::main]` has).

use std::future::Future;
use std::ops::Deref;
use std::time::Duration;

use super::AsyncCache;
use super::load::{CatchUnwind, Missed};
use super::refresh::spawn_detached;
use crate::flight::{Outcome, Role};
use crate::freshness::Own;
use crate::observe::Event;
use crate::observe::source::{self, Source};

/// What a caller with a soft timeout got: a value, or the key and its body
/// back for the usual miss path (nothing was kept to fall back on).
pub(crate) enum Within<V, F> {
    Value(V),
    Load(Missed, F),
}

impl AsyncCache {
    /// The kept value of a missed key, if a soft timeout can use one.
    fn kept<V: Clone + 'static>(&self, missed: &Missed) -> Option<V> {
        self.store
            .find_kept::<V>(&missed.probe())
            .map(|(kept, _)| kept)
    }

    /// What a waiter whose soft timeout passed, or whose reload ended in
    /// `outcome`, returns.
    fn within<V>(&self, kept: V, outcome: Option<Outcome<V>>) -> V {
        match outcome {
            Some(Outcome::Ready(value)) => {
                source::report(Source::Loaded);
                value
            }
            Some(Outcome::Stale(value)) => {
                source::report(Source::Stale);
                value
            }
            // Still running (it stores when it lands), failed, or dropped.
            _ => {
                self.store.counters.record(Event::StaleServed);
                source::report(Source::Stale);
                kept
            }
        }
    }
}

/// The soft-timeout path of an async function: see the module docs.
pub(crate) async fn reload_within<C, V, E, F>(
    cache: C,
    missed: Missed,
    own: Own,
    keep: fn(&V) -> bool,
    timeout: Duration,
    reload: F,
) -> Within<Result<V, E>, F>
where
    C: Deref<Target = AsyncCache> + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: Future<Output = Result<V, E>> + Send + 'static,
{
    let Some(kept) = cache.kept::<V>(&missed) else {
        return Within::Load(missed, reload);
    };
    let probe = missed.probe();
    let fresh = || cache.store.find::<V>(&probe).into_fresh();
    let leader = match cache.flights.join_or_lead(&probe, fresh) {
        Err(stored) => {
            source::report(Source::Hit);
            return Within::Value(Ok(stored));
        }
        Ok(Role::Waiter(..)) => return Within::Value(Ok(cache.within(kept, None))),
        Ok(Role::Leader(leader)) => leader,
    };
    // Join the reload about to run, so that its end can be waited for.
    let flight = match cache.flights.join_or_lead(&probe, || None::<()>) {
        Ok(Role::Waiter(flight, _)) => Some(flight),
        _ => None,
    };
    let task = {
        let cache = cache.clone();
        async move {
            let ran = CatchUnwind(reload).await;
            let policy = cache.policy.with(&own);
            if !matches!(ran, Ok(Ok(_))) {
                cache.store.counters.record(Event::RefreshFailed);
            }
            let _ = cache.finish_or_fall_back(leader, &missed, &policy, |_| None, ran, keep, false);
        }
    };
    spawn_detached(task);
    // tokio's timer needs a runtime; outside one (another executor), the
    // caller waits for the reload, as it would without a soft timeout.
    let outcome = match (flight, tokio::runtime::Handle::try_current()) {
        (Some(flight), Ok(_)) => tokio::time::timeout(timeout, flight.wait::<V>()).await.ok(),
        (Some(flight), Err(_)) => Some(flight.wait::<V>().await),
        (None, _) => None,
    };
    if outcome.is_none() {
        cache.store.counters.record(Event::RefreshStarted);
    }
    Within::Value(Ok(cache.within(kept, outcome)))
}

/// [`reload_within`] for a plain function: the reload runs on a thread,
/// the caller waits on the flight's condition variable.
pub(crate) fn reload_within_blocking<C, V, E, F>(
    cache: C,
    missed: Missed,
    own: Own,
    keep: fn(&V) -> bool,
    timeout: Duration,
    reload: F,
) -> Within<Result<V, E>, F>
where
    C: Deref<Target = AsyncCache> + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: FnOnce() -> Result<V, E> + Send + 'static,
{
    let Some(kept) = cache.kept::<V>(&missed) else {
        return Within::Load(missed, reload);
    };
    let probe = missed.probe();
    let fresh = || cache.store.find::<V>(&probe).into_fresh();
    let leader = match cache.flights.join_or_lead(&probe, fresh) {
        Err(stored) => {
            source::report(Source::Hit);
            return Within::Value(Ok(stored));
        }
        Ok(Role::Waiter(..)) => return Within::Value(Ok(cache.within(kept, None))),
        Ok(Role::Leader(leader)) => leader,
    };
    let flight = match cache.flights.join_or_lead(&probe, || None::<()>) {
        Ok(Role::Waiter(flight, _)) => Some(flight),
        _ => None,
    };
    let work = {
        let cache = cache.clone();
        move || {
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(reload));
            let policy = cache.policy.with(&own);
            if !matches!(ran, Ok(Ok(_))) {
                cache.store.counters.record(Event::RefreshFailed);
            }
            let _ = cache.finish_or_fall_back(leader, &missed, &policy, |_| None, ran, keep, false);
        }
    };
    // If the thread cannot start, the leader is dropped with `work`: the
    // flight is abandoned and the wait below ends at once.
    drop(
        std::thread::Builder::new()
            .name("memo-reload".into())
            .spawn(work),
    );
    let outcome = flight.and_then(|flight| flight.wait_blocking_for::<V>(timeout));
    if outcome.is_none() {
        cache.store.counters.record(Event::RefreshStarted);
    }
    Within::Value(Ok(cache.within(kept, outcome)))
}
