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
use std::sync::Arc;
use std::time::Duration;

use super::AsyncCache;
use super::load::{CatchUnwind, Missed};
use super::spawn::{spawn_detached, spawn_thread};
use crate::flight::{Flight, Outcome};
use crate::freshness::{Lifespan, Own};
use crate::local::{Found, LeaderGuard, Role};
use crate::observe::source::{self, Source};
use crate::observe::{Event, trace};

/// What a caller with a soft timeout got: a value, or the key and its body
/// back for the usual miss path (nothing was kept to fall back on).
pub(crate) enum Within<V, F> {
    Value(V),
    Load(Missed, F),
}

/// The first steps, shared by async and plain callers: what to answer at
/// once, or the reload to lead and the flight to wait on.
enum Start<'a, V> {
    /// Nothing kept: the usual miss path.
    Load,
    /// Answered without waiting (stored meanwhile, or a reload runs).
    Answer(V),
    /// Lead the reload detached; wait on `flight` up to the timeout.
    Lead {
        kept: V,
        leader: LeaderGuard<'a>,
        flight: Option<Arc<Flight>>,
    },
}

impl AsyncCache {
    fn start_within<V: Clone + Send + Sync + 'static>(&self, missed: &Missed) -> Start<'_, V> {
        let probe = missed.probe();
        let Some((kept, _)) = self.store.find_kept::<V>(&probe) else {
            return Start::Load;
        };
        let leader = match self.store.join_or_lead(&probe, Found::into_fresh) {
            Err(stored) => {
                source::report(Source::Hit);
                return Start::Answer(stored);
            }
            Ok(Role::Waiter(..)) => return Start::Answer(self.within(kept, None)),
            Ok(Role::Leader(leader)) => leader,
        };
        // Join the reload about to run, so that its end can be waited for.
        let flight = match self.store.join_or_lead(&probe, |_: Found<V>| None::<()>) {
            Ok(Role::Waiter(flight, _)) => Some(flight),
            _ => None,
        };
        Start::Lead {
            kept,
            leader,
            flight,
        }
    }

    /// The end of a detached reload: stored, or the kept value stands in
    /// for its waiters; it serves no caller itself.
    fn finish_detached<V, E>(
        &self,
        leader: LeaderGuard,
        missed: &Missed,
        own: &Own,
        keep: fn(&V) -> bool,
        ttl_of: impl FnOnce(&V) -> Lifespan + Send + 'static,
        ran: std::thread::Result<Result<V, E>>,
    ) where
        V: Clone + Send + Sync + 'static,
    {
        if !matches!(ran, Ok(Ok(_))) {
            self.store.counters.record(Event::RefreshFailed);
        }
        let policy = self.policy.with(own);
        let _ = self.finish_or_fall_back(leader, missed, &policy, ttl_of, ran, keep, false);
    }

    /// What the caller that led the reload returns, once it ended in
    /// `outcome` or the timeout passed (`None`).
    fn answer_within<V>(&self, kept: V, outcome: Option<Outcome<V>>) -> V {
        if outcome.is_none() {
            // The reload outlives the caller's patience: a background one.
            self.store.counters.record(Event::RefreshStarted);
        }
        self.within(kept, outcome)
    }

    /// What a caller whose reload ended in `outcome`, or that did not wait
    /// (`None`), returns.
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
    ttl_of: impl FnOnce(&V) -> Lifespan + Send + 'static,
    timeout: Duration,
    reload: F,
) -> Within<Result<V, E>, F>
where
    C: Deref<Target = AsyncCache> + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: Future<Output = Result<V, E>> + Send + 'static,
{
    let (kept, leader, flight) = match cache.start_within::<V>(&missed) {
        Start::Load => return Within::Load(missed, reload),
        Start::Answer(value) => return Within::Value(Ok(value)),
        Start::Lead {
            kept,
            leader,
            flight,
        } => (kept, leader.detach(), flight),
    };
    let detached = cache.clone();
    spawn_detached(async move {
        let reload = trace::load("reload", detached.name(), &missed.probe(), reload);
        let ran = CatchUnwind(reload).await;
        detached.finish_detached(leader, &missed, &own, keep, ttl_of, ran);
    });
    // tokio's timer needs a runtime; outside one (another executor), the
    // caller waits for the reload, as it would without a soft timeout.
    let outcome = match (flight, tokio::runtime::Handle::try_current()) {
        (Some(flight), Ok(_)) => tokio::time::timeout(timeout, flight.wait::<V>()).await.ok(),
        (Some(flight), Err(_)) => Some(flight.wait::<V>().await),
        (None, _) => None,
    };
    Within::Value(Ok(cache.answer_within(kept, outcome)))
}

/// [`reload_within`] for a plain function: the reload runs on a thread,
/// the caller waits on the flight's condition variable.
pub(crate) fn reload_within_blocking<C, V, E, F>(
    cache: C,
    missed: Missed,
    own: Own,
    keep: fn(&V) -> bool,
    ttl_of: impl FnOnce(&V) -> Lifespan + Send + 'static,
    timeout: Duration,
    reload: F,
) -> Within<Result<V, E>, F>
where
    C: Deref<Target = AsyncCache> + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    F: FnOnce() -> Result<V, E> + Send + 'static,
{
    let (kept, leader, flight) = match cache.start_within::<V>(&missed) {
        Start::Load => return Within::Load(missed, reload),
        Start::Answer(value) => return Within::Value(Ok(value)),
        Start::Lead {
            kept,
            leader,
            flight,
        } => (kept, leader.detach(), flight),
    };
    let detached = cache.clone();
    // If the thread cannot start, the leader is dropped with the work: the
    // flight is abandoned and the wait below ends at once.
    spawn_thread(move || {
        let probe = missed.probe();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            trace::load_blocking(detached.name(), &probe, reload)
        }));
        detached.finish_detached(leader, &missed, &own, keep, ttl_of, ran);
    });
    let outcome = flight.and_then(|flight| flight.wait_blocking_for::<V>(timeout));
    Within::Value(Ok(cache.answer_within(kept, outcome)))
}
