//! The invalidation bus: every write, delete and clear is published on one
//! Redis channel per tier prefix, and every tier subscribed to it (every
//! replica, and every other tier in this process) drops the entries from
//! the in-memory caches of that namespace. Messages carry only what to drop,
//! never values (as FusionCache's backplane does): a replica that needs the
//! value reads it from Redis.
//!
//! A message is one line of tab-separated text:
//! `instance \t kind \t namespace \t key-hex`, where kind is `set`, `del`,
//! `clr` (the namespace, no key) or `load` (a value was loaded under a
//! cross-process lock; waiters in other processes may read it now).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;
use redis::Client;
use tokio::sync::{Notify, watch};

use crate::AsyncCache;
use crate::observe::trace::TierEvent;

/// What a message asks of the receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Set,
    Delete,
    Clear,
    Loaded,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Set => "set",
            Kind::Delete => "del",
            Kind::Clear => "clr",
            Kind::Loaded => "load",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "set" => Kind::Set,
            "del" => Kind::Delete,
            "clr" => Kind::Clear,
            "load" => Kind::Loaded,
            _ => return None,
        })
    }
}

/// The in-memory cache of one [`SharedCache`](crate::SharedCache), as the
/// bus sees it.
pub(crate) struct Local {
    pub(crate) cache: AsyncCache,
    /// The namespace of the entries in `cache` (empty for the API; a
    /// memoized function's own).
    pub(crate) namespace: &'static str,
    /// Bumped by every invalidation that reaches this cache: a Redis read
    /// that started before it must not store what it read.
    pub(crate) epoch: AtomicU64,
}

impl Local {
    pub(crate) fn new(cache: AsyncCache, namespace: &'static str) -> Local {
        Local {
            cache,
            namespace,
            epoch: AtomicU64::new(0),
        }
    }

    fn drop_key(&self, id: &[u8]) {
        self.epoch.fetch_add(1, SeqCst);
        self.cache.remove_key(self.namespace, id);
    }

    fn drop_all(&self) {
        self.epoch.fetch_add(1, SeqCst);
        self.cache.clear_namespace(self.namespace);
    }
}

pub(crate) struct Bus {
    /// The tier's URL without its password, for traces.
    tier: Arc<str>,
    /// The tier's key prefix; the channel is `prefix:invalidate`.
    prefix: String,
    pub(crate) channel: String,
    /// Tells this tier's own messages from others'.
    pub(crate) instance: String,
    locals: Mutex<Vec<(String, Weak<Local>)>>,
    /// Cross-process loads being waited for, by Redis key.
    loads: Mutex<HashMap<String, Weak<Notify>>>,
    subscribed: AtomicBool,
    /// Messages from other tiers received (for tests).
    pub(crate) received: AtomicU64,
    /// Never subscribed yet: calls wait for the first subscription.
    new: AtomicBool,
    ready: Notify,
}

impl Bus {
    pub(crate) fn new(prefix: &str, tier: Arc<str>) -> Bus {
        Bus {
            tier,
            prefix: prefix.to_owned(),
            channel: format!("{prefix}:invalidate"),
            instance: random_id(),
            locals: Mutex::new(Vec::new()),
            loads: Mutex::new(HashMap::new()),
            subscribed: AtomicBool::new(false),
            received: AtomicU64::new(0),
            new: AtomicBool::new(true),
            ready: Notify::new(),
        }
    }

    pub(crate) fn is_subscribed(&self) -> bool {
        self.subscribed.load(SeqCst)
    }

    pub(crate) fn is_new(&self) -> bool {
        self.new.load(SeqCst)
    }

    /// Returns once the first subscription is up (at once after that).
    pub(crate) async fn ready(&self) {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_new() {
                return;
            }
            notified.await;
        }
    }

    /// Adds the in-memory cache of a namespace to the receivers.
    pub(crate) fn register(&self, namespace: &str, local: &Arc<Local>) {
        let mut locals = self.locals.lock();
        locals.retain(|(_, weak)| weak.strong_count() > 0);
        locals.push((namespace.to_owned(), Arc::downgrade(local)));
    }

    /// Applies a change to this tier's own caches of `namespace` (the
    /// receivers of other tiers get it from Redis).
    pub(crate) fn apply(&self, kind: Kind, namespace: &str, id: &[u8]) {
        match kind {
            Kind::Set | Kind::Delete => self.each(Some(namespace), |local| local.drop_key(id)),
            Kind::Clear => self.each(Some(namespace), |local| local.drop_all()),
            Kind::Loaded => {}
        }
    }

    /// Runs `f` on the live caches of `namespace` (of every namespace for
    /// `None`), outside the registry's lock.
    fn each(&self, namespace: Option<&str>, f: impl FnMut(&Arc<Local>)) {
        let locals: Vec<Arc<Local>> = self
            .locals
            .lock()
            .iter()
            .filter(|(ns, _)| namespace.is_none_or(|namespace| ns == namespace))
            .filter_map(|(_, weak)| weak.upgrade())
            .collect();
        locals.iter().for_each(f);
    }

    /// Drops every L1 copy of every namespace: after the subscription was
    /// lost, invalidations may have been missed.
    pub(crate) fn flush_all(&self) {
        self.each(None, |local| local.drop_all());
    }

    /// The message for `kind` on `id` of `namespace`.
    pub(crate) fn message(&self, kind: Kind, namespace: &str, id: &[u8]) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.instance,
            kind.as_str(),
            namespace,
            super::hex(id)
        )
    }

    /// How many keys' loads in other processes are being waited for.
    pub(crate) fn loads_waited_for(&self) -> usize {
        self.loads
            .lock()
            .values()
            .filter(|weak| weak.strong_count() > 0)
            .count()
    }

    /// What a waiter for the load of `redis_key` in another process waits on.
    pub(crate) fn load_waiter(&self, redis_key: &str) -> Arc<Notify> {
        let mut loads = self.loads.lock();
        loads.retain(|_, weak| weak.strong_count() > 0);
        if let Some(notify) = loads.get(redis_key).and_then(Weak::upgrade) {
            return notify;
        }
        let notify = Arc::new(Notify::new());
        loads.insert(redis_key.to_owned(), Arc::downgrade(&notify));
        notify
    }

    fn received(&self, payload: &str) {
        let mut parts = payload.splitn(4, '\t');
        let (Some(instance), Some(kind), Some(namespace), Some(key)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let Some(kind) = Kind::parse(kind) else {
            return;
        };
        // A value written under the load lock (a load's, or a refresh's):
        // waiters for that lock may read it now.
        if matches!(kind, Kind::Loaded | Kind::Set) {
            let redis_key = super::redis_key(&self.prefix, namespace, key);
            if let Some(notify) = self.loads.lock().get(&redis_key).and_then(Weak::upgrade) {
                notify.notify_waiters();
            }
        }
        if kind == Kind::Loaded {
            return;
        }
        if instance == self.instance {
            return;
        }
        if let Some(id) = super::unhex(key) {
            self.apply(kind, namespace, &id);
        }
        self.received.fetch_add(1, SeqCst);
    }

    /// The subscriber: subscribes, applies every message, and when the
    /// stream ends (the connection died) or the probe asks for a restart,
    /// subscribes again, dropping every L1 copy once it is back.
    pub(crate) async fn subscribe(
        self: Arc<Self>,
        client: Client,
        timeout: Duration,
        mut restart: watch::Receiver<u64>,
    ) {
        loop {
            let connected = tokio::time::timeout(timeout, async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&self.channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            });
            let pubsub = match connected.await {
                Ok(Ok(pubsub)) => pubsub,
                _ => {
                    // Redis is down from the start: calls stop waiting for a
                    // first subscription and go to memory (the probe marks
                    // the tier available once it is up).
                    if self.new.swap(false, SeqCst) {
                        self.ready.notify_waiters();
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Any subscription but a new tier's first may have missed
            // invalidations (also one that follows failed attempts: copies
            // may have been taken from memory meanwhile).
            if !self.new.swap(false, SeqCst) {
                self.flush_all();
                crate::observe::trace::tier_event(&self.tier, TierEvent::Resubscribed);
            }
            self.subscribed.store(true, SeqCst);
            self.ready.notify_waiters();
            let mut messages = pubsub.into_on_message();
            restart.mark_unchanged();
            loop {
                tokio::select! {
                    message = messages.next() => match message {
                        Some(message) => {
                            if let Ok(payload) = std::str::from_utf8(message.get_payload_bytes()) {
                                self.received(payload);
                            }
                        }
                        None => break,
                    },
                    _ = restart.changed() => break,
                }
            }
            // Keep serving the copies while Redis is away (no replica can
            // publish meanwhile); they are dropped when the subscription
            // is back, since invalidations may have been missed.
            self.subscribed.store(false, SeqCst);
        }
    }
}

/// A random id, unique enough to tell processes and tiers apart (and to be
/// a lock token): std's randomly keyed hasher over the time and a counter.
pub(crate) fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut parts = [0u64; 2];
    for (i, part) in parts.iter_mut().enumerate() {
        let mut hasher = state.build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, SeqCst));
        hasher.write_u32(std::process::id());
        hasher.write_usize(i);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        *part = hasher.finish();
    }
    format!("{:016x}{:016x}", parts[0], parts[1])
}
