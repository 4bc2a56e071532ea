//! [`SharedTier`]: one Redis deployment, its connection, its invalidation
//! subscription, its health, and the deadline every operation runs under.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::watch;

use super::SharedTierError;
use super::bus::Bus;
use super::replay::Replay;
use super::tls::{self, TlsSettings};
use super::url::RedisUrl;
use super::worker::Worker;
use crate::observe::trace::{self, TierEvent};

/// Default deadline of one Redis operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
/// Default life of a cross-process load lock.
pub const DEFAULT_LOCK_LEASE: Duration = Duration::from_secs(10);
/// How often the tier checks on Redis when nothing else talks to it.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// Consecutive failed operations that open the breaker.
const BREAKER_AFTER: u32 = 3;

/// A handle on one Redis deployment, the second tier behind the in-memory
/// caches of [`SharedCache`](crate::SharedCache): replicas of a service that
/// share one tier share results and invalidations. Cheap to clone; the
/// clones are one tier.
///
/// Making one does no I/O: it parses the URL, then connects in the
/// background on a runtime of its own (one thread), so it works from any
/// tokio runtime, or none, and outlives the runtime that made it. It
/// reconnects by itself. While Redis is unreachable, or after repeated
/// failures (a circuit breaker), the tier is skipped: calls are answered
/// from memory and by their own loads, never failing or waiting more than
/// about one [`timeout`](SharedTierBuilder::timeout) because of Redis.
///
/// ```
/// use std::time::Duration;
/// use memo_runtime::SharedTier;
///
/// let tier = SharedTier::builder("redis://:s3cret@127.0.0.1:6379/0")
///     .prefix("shop")
///     .timeout(Duration::from_millis(50))
///     .build()
///     .unwrap();
/// // The password never shows.
/// assert!(!format!("{tier:?}").contains("s3cret"));
///
/// let err = SharedTier::redis("http://127.0.0.1").unwrap_err();
/// assert!(err.to_string().contains("redis://"));
/// ```
#[derive(Clone)]
pub struct SharedTier {
    pub(crate) inner: Arc<TierInner>,
}

pub(crate) struct TierInner {
    pub(crate) url: RedisUrl,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) lock_lease: Duration,
    pub(crate) conn: ConnectionManager,
    pub(crate) bus: Arc<Bus>,
    pub(crate) health: Arc<Health>,
    pub(crate) replay: Arc<Replay>,
    // Last: dropping it stops the runtime the fields above run on.
    pub(crate) worker: Worker,
}

/// What the background tasks and the callers know about Redis's health.
pub(crate) struct Health {
    /// Connected, subscribed, and the breaker closed.
    available: AtomicBool,
    /// Operations that failed in a row.
    failures: AtomicU32,
    /// The tier's URL without its password, for traces.
    tier: Arc<str>,
}

impl Health {
    fn new(tier: Arc<str>) -> Health {
        Health {
            available: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            tier,
        }
    }

    /// Marks the tier in use again, telling traces if it was not.
    fn recovered(&self) {
        if !self.available.swap(true, SeqCst) {
            trace::tier_event(&self.tier, TierEvent::Available);
        }
    }

    /// Marks the tier skipped, telling traces why if it was in use.
    fn lost(&self, why: TierEvent) {
        if self.available.swap(false, SeqCst) {
            trace::tier_event(&self.tier, why);
        }
    }

    pub(crate) fn is_available(&self) -> bool {
        self.available.load(SeqCst)
    }

    fn succeeded(&self) {
        self.failures.store(0, SeqCst);
    }

    fn failed(&self) {
        if self.failures.fetch_add(1, SeqCst) + 1 >= BREAKER_AFTER {
            // Open: skipped until the probe gets an answer.
            self.lost(TierEvent::BreakerOpened);
        }
    }
}

/// Settings of a [`SharedTier`]. `Debug` shows the URL without its
/// password and no certificate or key.
#[derive(Clone)]
#[must_use = "call .build() to get the tier"]
pub struct SharedTierBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
    lock_lease: Duration,
    tls: TlsSettings,
}

impl fmt::Debug for SharedTierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTierBuilder")
            .field("url", &super::url::redact(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("lock_lease", &self.lock_lease)
            .field("tls", &self.tls)
            .finish()
    }
}

impl SharedTierBuilder {
    /// Every Redis key of the tier starts with `prefix` and `:`; the
    /// default is `memo`. It must be printable ASCII without spaces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The deadline of each Redis operation, reconnecting included; the
    /// default is 100 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a cross-process load lock lives if its holder dies; the
    /// default is 10 s. Other processes run the body themselves after it.
    pub fn lock_lease(mut self, lease: Duration) -> Self {
        self.lock_lease = lease;
        self
    }

    /// For `rediss://` (feature `redis-tls`): trust these roots (PEM, one
    /// or more certificates) instead of the system's, for a server whose
    /// certificate a private authority signed. The server's name or IP
    /// address is checked against its certificate either way.
    ///
    /// ```
    /// use memo_runtime::SharedTier;
    ///
    /// // Usually `std::fs::read("/etc/memo/ca.pem")?`; what is not PEM is
    /// // refused when the tier is built, not at the first handshake.
    /// let err = SharedTier::builder("rediss://cache.internal:6380/0")
    ///     .tls_root_certificates("not a certificate")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("no PEM certificate"));
    /// ```
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_certificates = Some(pem.into());
        self
    }

    /// For `rediss://` (feature `redis-tls`) to a server that asks for a
    /// client certificate (mutual TLS): the certificate chain and its
    /// private key, both PEM. The key never appears in `Debug` or errors.
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        private_key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client_identity = Some((certificate_pem.into(), private_key_pem.into()));
        self
    }

    /// Parses the URL and starts connecting in the background.
    ///
    /// # Errors
    ///
    /// [`SharedTierError::Url`] for a malformed URL or another scheme than
    /// `redis://`, `rediss://` (with the feature `redis-tls`) or
    /// `redis+unix://`; [`SharedTierError::Setting`] for a zero timeout or
    /// lease, a prefix that is not printable, or TLS certificates that are
    /// not PEM or were given for a URL that is not `rediss://`.
    pub fn build(self) -> Result<SharedTier, SharedTierError> {
        let url = RedisUrl::parse(&self.url)?;
        if self.timeout.is_zero() || self.lock_lease.is_zero() {
            return Err(SharedTierError::Setting(
                "the timeout and the lock lease must be longer than zero".into(),
            ));
        }
        if !super::is_printable(&self.prefix) {
            return Err(SharedTierError::Setting(format!(
                "the prefix {:?} must be printable ASCII without spaces, `{{` or `}}`",
                self.prefix
            )));
        }
        let client = tls::client(&url, &self.tls)?;
        let worker = Worker::start()?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(self.timeout);
        // The manager's driver must live on the tier's runtime.
        let conn = {
            let _entered = worker.handle().enter();
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|err| {
                SharedTierError::Url {
                    url: url.to_string(),
                    reason: err.to_string(),
                }
            })?
        };
        let label: Arc<str> = url.to_string().into();
        let health = Arc::new(Health::new(label.clone()));
        let bus = Arc::new(Bus::new(&self.prefix, label));
        let (restart, restarted) = watch::channel(0u64);
        worker.handle().spawn(
            bus.clone()
                .subscribe(client.clone(), self.timeout, restarted),
        );
        let replay = Arc::new(Replay::default());
        worker.handle().spawn(probe(
            conn.clone(),
            Probed {
                timeout: self.timeout,
                prefix: self.prefix.clone(),
                health: health.clone(),
                bus: bus.clone(),
                replay: replay.clone(),
            },
            restart,
        ));
        Ok(SharedTier {
            inner: Arc::new(TierInner {
                url,
                prefix: self.prefix,
                timeout: self.timeout,
                lock_lease: self.lock_lease,
                conn,
                bus,
                health,
                replay,
                worker,
            }),
        })
    }
}

impl SharedTier {
    /// A tier on `url` with the default settings; see [`SharedTier::builder`].
    ///
    /// # Errors
    ///
    /// As [`SharedTierBuilder::build`].
    pub fn redis(url: &str) -> Result<SharedTier, SharedTierError> {
        SharedTier::builder(url).build()
    }

    /// Starts the settings of a tier on `url`: `redis://[user:password@]host
    /// [:port][/db]`, the same with `rediss://` for TLS (feature
    /// `redis-tls`), or `redis+unix:///path/to.sock`.
    pub fn builder(url: &str) -> SharedTierBuilder {
        SharedTierBuilder {
            url: url.to_owned(),
            prefix: "memo".to_owned(),
            timeout: DEFAULT_TIMEOUT,
            lock_lease: DEFAULT_LOCK_LEASE,
            tls: TlsSettings::default(),
        }
    }

    /// Whether the tier is in use: connected, subscribed to invalidations,
    /// and its breaker closed. False while Redis is unreachable; true again
    /// within about a second of it answering, with no call needed.
    pub fn is_available(&self) -> bool {
        self.inner.health.is_available()
    }

    /// How many keys' loads in other processes this tier's callers wait for
    /// (for tests).
    #[doc(hidden)]
    pub fn loads_waited_for(&self) -> usize {
        self.inner.bus.loads_waited_for()
    }

    /// How many invalidations wait to be replayed (for tests).
    #[doc(hidden)]
    pub fn invalidations_pending(&self) -> usize {
        self.inner.replay.len()
    }

    /// How many invalidations from other tiers this one has applied (for
    /// tests that wait for one).
    #[doc(hidden)]
    pub fn invalidations_received(&self) -> u64 {
        self.inner.bus.received.load(SeqCst)
    }

    /// Waits until the tier is available, at most `limit`; whether it is.
    /// For startup code and tests: calls never need it.
    pub async fn wait_available(&self, limit: Duration) -> bool {
        let health = self.inner.health.clone();
        let waited = self.inner.worker.run(async move {
            let deadline = tokio::time::Instant::now() + limit;
            while !health.is_available() {
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            true
        });
        waited.await.unwrap_or(false)
    }

    /// Runs one Redis operation under the tier's deadline, on its runtime.
    /// `None` when it failed, timed out, or was skipped because the tier is
    /// not available; the failure counts toward the breaker.
    pub(crate) async fn run<T, F>(&self, op: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        T: Send + 'static,
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
    {
        self.run_for(self.inner.timeout, op).await
    }

    /// [`run`](Self::run) with another deadline (a `clear` that scans).
    pub(crate) async fn run_for<T, F>(
        &self,
        deadline: Duration,
        op: impl FnOnce(ConnectionManager) -> F,
    ) -> Option<T>
    where
        T: Send + 'static,
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
    {
        let health = &self.inner.health;
        if !health.is_available() && !self.inner.bus.is_new() {
            return None;
        }
        // The command is sent from the caller's task (one hop to the
        // connection's driver, not two); only the deadline's timer runs on
        // the tier's runtime, so any executor can await this.
        let op = op(self.inner.conn.clone());
        let bus = &self.inner.bus;
        let timed = async {
            let work = std::pin::pin!(async {
                // A new tier's first calls wait for the connection and the
                // subscription rather than taking that moment for an outage.
                bus.ready().await;
                op.await
            });
            let timer = std::pin::pin!(self.inner.worker.after(deadline));
            match futures_util::future::select(work, timer).await {
                futures_util::future::Either::Left((result, _)) => Some(result),
                futures_util::future::Either::Right(_) => None,
            }
        };
        match timed.await {
            Some(Ok(value)) => {
                health.succeeded();
                Some(value)
            }
            // Redis answered, with an error (a key of another type, a
            // script refused): not an outage, so the breaker stays shut.
            Some(Err(err)) if !is_outage(&err) => {
                health.succeeded();
                None
            }
            _ => {
                health.failed();
                None
            }
        }
    }

    /// The prefix of this tier's keys.
    pub(crate) fn prefix(&self) -> &str {
        &self.inner.prefix
    }
}

/// Two handles are equal when they are the same tier (clones of one
/// another).
impl PartialEq for SharedTier {
    fn eq(&self, other: &SharedTier) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for SharedTier {}

/// Whether an error says Redis is unreachable, rather than that it refused
/// one command.
fn is_outage(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
}

impl fmt::Debug for SharedTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTier")
            .field("url", &self.inner.url)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("available", &self.is_available())
            .finish_non_exhaustive()
    }
}

/// What the probe looks after.
struct Probed {
    timeout: Duration,
    prefix: String,
    health: Arc<Health>,
    bus: Arc<Bus>,
    replay: Arc<Replay>,
}

/// Checks on Redis every [`PROBE_EVERY`]: marks the tier unavailable when a
/// PING fails; when one succeeds again, drops every L1 copy (invalidations
/// may have been missed meanwhile), restarts the subscription, replays the
/// invalidations that failed, and marks the tier available once the
/// subscription is back.
async fn probe(mut conn: ConnectionManager, probed: Probed, restart: watch::Sender<u64>) {
    let Probed {
        timeout,
        prefix,
        health,
        bus,
        replay,
    } = probed;
    let mut was_down = false;
    loop {
        let ping = redis::cmd("PING");
        match tokio::time::timeout(timeout, ping.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => {
                if was_down {
                    was_down = false;
                    trace::tier_event(&health.tier, TierEvent::Reconnected);
                    bus.flush_all();
                    restart.send_modify(|generation| *generation += 1);
                }
                if !replay.is_empty() {
                    let _ =
                        tokio::time::timeout(timeout * 20, replay.drain(&mut conn, &prefix, &bus))
                            .await;
                }
                if bus.is_subscribed() {
                    health.succeeded();
                    health.recovered();
                }
            }
            _ => {
                if bus.is_subscribed() || health.is_available() {
                    was_down = true;
                }
                health.lost(TierEvent::Unreachable);
            }
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}
