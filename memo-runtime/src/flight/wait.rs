//! How callers wait for a load in flight: async callers on a [`Notify`],
//! blocking ones (the loads of sync functions) on a [`Condvar`]; both see
//! the same outcome, published under one mutex before anyone is woken.

use std::any::Any;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

/// A loaded value handed to the callers that waited for it.
pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

/// How a flight ended, or that it has not.
pub(crate) enum State {
    Running,
    Ready(Shared),
    /// The load failed; a value kept past its TTL is served instead.
    Stale(Shared),
    Failed,
    Abandoned,
}

/// What the callers that joined a load wait on.
pub(crate) struct Flight {
    state: Mutex<State>,
    /// Wakes async waiters.
    done: Notify,
    /// Wakes blocking waiters; paired with `state`'s mutex.
    done_blocking: Condvar,
}

/// What a waiter learned when its flight ended.
pub(crate) enum Outcome<V> {
    Ready(V),
    /// The load failed and this kept value stands in for it.
    Stale(V),
    Failed,
    Abandoned,
}

impl Flight {
    /// A flight whose load is running.
    pub(crate) fn running() -> Flight {
        Flight {
            state: Mutex::new(State::Running),
            done: Notify::new(),
            done_blocking: Condvar::new(),
        }
    }

    /// Waits until this flight ends. Cancel-safe: a waiter that is dropped
    /// leaves nothing behind.
    pub(crate) async fn wait<V: Clone + 'static>(&self) -> Outcome<V> {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Register before looking, so a wake-up between the look and the
            // await is not lost.
            notified.as_mut().enable();
            if let Some(outcome) = Self::outcome(&self.state.lock()) {
                return outcome;
            }
            notified.await;
        }
    }

    /// Blocks the thread until this flight ends.
    pub(crate) fn wait_blocking<V: Clone + 'static>(&self) -> Outcome<V> {
        let mut state = self.state.lock();
        loop {
            // `finish` publishes under this mutex before notifying, and the
            // wait releases it atomically: no wake-up is lost.
            if let Some(outcome) = Self::outcome(&state) {
                return outcome;
            }
            self.done_blocking.wait(&mut state);
        }
    }

    /// [`wait_blocking`](Self::wait_blocking) for at most `limit`; `None`
    /// when the flight is still running then.
    pub(crate) fn wait_blocking_for<V: Clone + 'static>(
        &self,
        limit: std::time::Duration,
    ) -> Option<Outcome<V>> {
        let deadline = std::time::Instant::now() + limit;
        let mut state = self.state.lock();
        loop {
            if let Some(outcome) = Self::outcome(&state) {
                return Some(outcome);
            }
            if self
                .done_blocking
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return Self::outcome(&state);
            }
        }
    }

    /// What a waiter gets from `state`; `None` while the load runs.
    fn outcome<V: Clone + 'static>(state: &State) -> Option<Outcome<V>> {
        match state {
            State::Running => None,
            State::Ready(value) => Some(match value.downcast_ref::<V>() {
                Some(value) => Outcome::Ready(value.clone()),
                // Only a caller asking for another type under the same key
                // gets here; it has nothing to share.
                None => Outcome::Failed,
            }),
            State::Stale(value) => Some(match value.downcast_ref::<V>() {
                Some(value) => Outcome::Stale(value.clone()),
                None => Outcome::Failed,
            }),
            State::Failed => Some(Outcome::Failed),
            State::Abandoned => Some(Outcome::Abandoned),
        }
    }

    pub(crate) fn finish(&self, state: State) {
        *self.state.lock() = state;
        self.done_blocking.notify_all();
        self.done.notify_waiters();
    }
}
