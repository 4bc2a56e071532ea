//! Single flight: the state machine that makes concurrent misses of one key
//! run one load and share its result.
//!
//! A load in flight is a [`Flight`] in a sharded table. The first caller to
//! miss becomes its *leader* and runs its own future; callers that miss while
//! it runs *join* and wait on the flight's [`Notify`]. The flight ends in one
//! of three ways, each published under the flight's mutex before the waiters
//! are woken:
//!
//! - `Ready`: the value, which the leader also stored unless an invalidation
//!   *doomed* the flight meanwhile; waiters clone it.
//! - `Failed`: the load returned an `Err`, which is not cached; each waiter
//!   runs its own future once, concurrently, and returns its own result.
//! - `Abandoned`: the leader was dropped or panicked; waiters start over, and
//!   the first of them to get there becomes the new leader.
//!
//! Ordering that makes this exact: a leader stores its value and removes its
//! flight while holding the table shard's lock, and a caller that finds no
//! flight looks at the store again under that same lock, so it either sees the
//! stored value or becomes the only leader. Invalidations take the same lock
//! to doom a flight and delete the stored value together, so they win over a
//! load in flight whichever finishes first.

use std::any::Any;
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::key::CacheKey;
use crate::store::Probe;

/// A loaded value handed to the callers that waited for it.
type Shared = Arc<dyn Any + Send + Sync>;

/// How a flight ended, or that it has not.
enum State {
    Running { doomed: bool },
    Ready(Shared),
    /// Finished with a value when nobody was waiting: nothing to hand over.
    Done,
    Failed,
    Abandoned,
}

pub(crate) struct Flight {
    key: CacheKey,
    hash: u64,
    state: Mutex<State>,
    done: Notify,
}

/// What a waiter learned when its flight ended.
pub(crate) enum Outcome<V> {
    Ready(V),
    Failed,
    Abandoned,
}

impl Flight {
    /// Waits until this flight ends. Cancel-safe: a waiter that is dropped
    /// leaves nothing behind.
    pub(crate) async fn wait<V: Clone + 'static>(&self) -> Outcome<V> {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Register before looking, so a wake-up between the look and the
            // await is not lost.
            notified.as_mut().enable();
            match &*self.state.lock() {
                State::Running { .. } => {}
                State::Ready(value) => {
                    return match value.downcast_ref::<V>() {
                        Some(value) => Outcome::Ready(value.clone()),
                        // Another function's load of the same key in a shared
                        // cache can only happen with identical namespaces; treat
                        // it as nothing to share.
                        None => Outcome::Failed,
                    };
                }
                // `Done` is only set when no caller holds the flight; a waiter
                // cannot see it, but would run its own load if it did.
                State::Failed | State::Done => return Outcome::Failed,
                State::Abandoned => return Outcome::Abandoned,
            }
            notified.await;
        }
    }

    fn finish(&self, state: State) {
        *self.state.lock() = state;
        self.done.notify_waiters();
    }

    fn is_doomed(&self) -> bool {
        matches!(*self.state.lock(), State::Running { doomed: true })
    }

    fn doom(&self) {
        if let State::Running { doomed } = &mut *self.state.lock() {
            *doomed = true;
        }
    }
}

/// The table of flights, sharded like the store.
pub(crate) struct Flights {
    shards: Box<[Mutex<HashTable<Arc<Flight>>>]>,
}

/// What a caller that missed should do.
pub(crate) enum Role {
    /// Run the load; the guard ends the flight.
    Leader(LeaderGuard),
    /// Wait for the leader's flight.
    Waiter(Arc<Flight>),
}

impl Flights {
    pub(crate) fn new(shards: usize) -> Self {
        Flights {
            shards: (0..shards).map(|_| Mutex::new(HashTable::new())).collect(),
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<HashTable<Arc<Flight>>> {
        &self.shards[(hash >> 32) as usize & (self.shards.len() - 1)]
    }

    /// Joins the flight for `probe`, or starts one. `stored` looks at the store
    /// once more under the table's lock: if it finds the value (a leader just
    /// finished), that is returned and no flight starts.
    pub(crate) fn join_or_lead<V>(
        self: &Arc<Self>,
        probe: &Probe<'_>,
        stored: impl FnOnce() -> Option<V>,
    ) -> Result<Role, V> {
        let mut table = self.shard(probe.hash).lock();
        if let Some(flight) = table.find(probe.hash, |f| f.key.matches(probe.namespace, probe.id)) {
            return Ok(Role::Waiter(Arc::clone(flight)));
        }
        if let Some(value) = stored() {
            return Err(value);
        }
        let flight = Arc::new(Flight {
            key: CacheKey::from_parts(probe.namespace, probe.id),
            hash: probe.hash,
            state: Mutex::new(State::Running { doomed: false }),
            done: Notify::new(),
        });
        table.insert_unique(probe.hash, Arc::clone(&flight), |f| f.hash);
        Ok(Role::Leader(LeaderGuard {
            flights: Arc::clone(self),
            flight,
            hash: probe.hash,
            finished: false,
        }))
    }

    /// Dooms the flight of one key and runs `delete` under the same lock.
    pub(crate) fn invalidate<R>(&self, probe: &Probe<'_>, delete: impl FnOnce() -> R) -> R {
        let table = self.shard(probe.hash).lock();
        if let Some(flight) = table.find(probe.hash, |f| f.key.matches(probe.namespace, probe.id)) {
            flight.doom();
        }
        let result = delete();
        drop(table);
        result
    }

    /// Dooms every flight that `affected` picks and runs `delete` while all
    /// shards are locked (in index order, so two clears cannot deadlock).
    pub(crate) fn invalidate_all<R>(
        &self,
        affected: impl Fn(&CacheKey) -> bool,
        delete: impl FnOnce() -> R,
    ) -> R {
        let tables: Vec<MutexGuard<'_, _>> = self.shards.iter().map(|s| s.lock()).collect();
        for table in &tables {
            for flight in table.iter().filter(|f| affected(&f.key)) {
                flight.doom();
            }
        }
        let result = delete();
        drop(tables);
        result
    }

    /// How many loads are in flight (for tests and diagnostics).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// How many callers are waiting on loads in flight: every holder of a
    /// flight but the table and the leader.
    pub(crate) fn waiters(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let table = s.lock();
                table
                    .iter()
                    .map(|f| Arc::strong_count(f).saturating_sub(2))
                    .sum::<usize>()
            })
            .sum()
    }
}

/// Held by the caller running a load. Dropping it without [`complete`]
/// (cancellation, panic) abandons the flight so a waiter takes over.
///
/// [`complete`]: LeaderGuard::complete
pub(crate) struct LeaderGuard {
    flights: Arc<Flights>,
    flight: Arc<Flight>,
    hash: u64,
    finished: bool,
}

impl LeaderGuard {
    /// Ends the flight. With `Some(value)`, runs `store` with a clone unless
    /// the flight was doomed, and hands a clone to the waiters, if any; with
    /// `None` (a failed load), tells them it failed.
    pub(crate) fn complete<V: Clone + Send + Sync + 'static>(
        mut self,
        value: Option<&V>,
        store: impl FnOnce(V),
    ) {
        let mut table = self.flights.shard(self.hash).lock();
        let state = match value {
            Some(value) => {
                if !self.flight.is_doomed() {
                    store(value.clone());
                }
                // Waiters hold the flight besides the table and this guard,
                // and none can join while the table is locked.
                if Arc::strong_count(&self.flight) > 2 {
                    State::Ready(Arc::new(value.clone()))
                } else {
                    State::Done
                }
            }
            None => State::Failed,
        };
        self.remove_from(&mut table);
        drop(table);
        self.flight.finish(state);
        self.finished = true;
    }

    fn remove_from(&self, table: &mut HashTable<Arc<Flight>>) {
        if let Ok(entry) = table.find_entry(self.hash, |f| Arc::ptr_eq(f, &self.flight)) {
            entry.remove();
        }
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if !self.finished {
            let mut table = self.flights.shard(self.hash).lock();
            self.remove_from(&mut table);
            drop(table);
            self.flight.finish(State::Abandoned);
        }
    }
}
