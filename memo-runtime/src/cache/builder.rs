//! [`AsyncCacheBuilder`]: a cache's own settings, the rest from the global
//! [`Config`](crate::Config).

use std::time::Duration;

use super::AsyncCache;
use crate::config::{self, ConfigError};
use crate::freshness::{ManualClock, Policy};
use crate::local::policy::Eviction;

/// Settings for an [`AsyncCache`]; unset ones come from the global
/// [`Config`](crate::Config).
///
/// ```
/// use std::time::Duration;
/// use memo_runtime::{AsyncCache, ConfigError};
///
/// let cache = AsyncCache::builder().max_size(100).build().unwrap();
/// assert_eq!(cache.max_size(), 100);
///
/// let err = AsyncCache::builder().default_ttl(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err, ConfigError::ZeroTtl);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "call .build() to get the cache"]
pub struct AsyncCacheBuilder {
    default_ttl: Option<Duration>,
    max_size: Option<usize>,
    eviction: Option<Eviction>,
    clock: Option<ManualClock>,
    stale: Option<Duration>,
    stale_retry: Option<Duration>,
    jitter: Option<f64>,
    refresh: Option<Duration>,
    idle: Option<Duration>,
    soft_timeout: Option<Duration>,
    name: Option<String>,
}

impl AsyncCacheBuilder {
    /// Lists the cache in [`caches()`](crate::caches) and
    /// [`report()`](crate::report) under `name` (caches without a name are
    /// not listed; memoized functions are, under their path).
    ///
    /// ```
    /// let cache = memo_runtime::AsyncCache::builder().name("sessions").build().unwrap();
    /// assert!(memo_runtime::caches().iter().any(|info| info.name == "sessions"));
    /// # drop(cache);
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The TTL of entries stored without one of their own. Must not be zero.
    ///
    /// On the system clock a hit reads a time kept by a background thread,
    /// which lags by up to about a millisecond: an entry may be served that
    /// much past its TTL.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let cache = memo_runtime::AsyncCache::builder()
    ///     .default_ttl(Duration::from_millis(250))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cache.default_ttl(), Duration::from_millis(250));
    /// ```
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The most entries the cache holds. Must not be zero. The bound is
    /// split among the cache's shards, so a cache may evict a little before
    /// it is full (see *Bound* on [`AsyncCache`]).
    ///
    /// ```
    /// let cache = memo_runtime::AsyncCache::builder().max_size(3).build().unwrap();
    /// assert_eq!(cache.max_size(), 3);
    /// ```
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = Some(max_size);
        self
    }

    /// How the cache chooses what to evict when full; see [`Eviction`].
    ///
    /// ```
    /// use memo_runtime::{AsyncCache, Eviction};
    /// let cache = AsyncCache::builder().eviction(Eviction::S3Fifo).build().unwrap();
    /// assert_eq!(cache.eviction(), Eviction::S3Fifo);
    /// ```
    pub fn eviction(mut self, eviction: Eviction) -> Self {
        self.eviction = Some(eviction);
        self
    }

    /// The clock TTLs run on: a [`ManualClock`] that a test advances, instead
    /// of the system's monotonic clock (or the one [`Config::clock`] sets).
    ///
    /// [`Config::clock`]: crate::Config::clock
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use memo_runtime::{AsyncCache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache = AsyncCache::builder().clock(clock.clone()).build().unwrap();
    /// cache.set_with_ttl("k", 1u8, Duration::from_secs(10)).await;
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(cache.get::<_, u8>("k").await, None);
    /// # }
    /// ```
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Stale-if-error: keep each value `stale` past its TTL. A call that
    /// finds it expired reloads as usual; if the reload fails (`init`
    /// returns an `Err`, or panics), the caller gets the kept value instead
    /// of the failure, counted in [`CacheStats::stale_served`], and the
    /// kept value is served like a hit for
    /// [`stale_retry`](Self::stale_retry) before `init` is tried again, so a
    /// backend that is down is not hammered. The window is counted from
    /// when the value was stored, however many reloads fail: once `ttl +
    /// stale` has passed, the failure reaches the caller. Zero (the default,
    /// unless [`Config::stale`] says otherwise) keeps nothing.
    ///
    /// [`CacheStats::stale_served`]: crate::CacheStats::stale_served
    /// [`Config::stale`]: crate::Config::stale
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use memo_runtime::{AsyncCache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let cache = AsyncCache::builder()
    ///     .default_ttl(Duration::from_secs(60))
    ///     .stale(Duration::from_secs(3600))
    ///     .clock(clock.clone())
    ///     .build()
    ///     .unwrap();
    /// cache.set("rate", 1.25f64).await;
    /// clock.advance(Duration::from_secs(61)); // expired, but kept
    /// let rate = cache
    ///     .try_get_or_insert_with("rate", async { Err::<f64, _>("backend down") })
    ///     .await;
    /// assert_eq!(rate, Ok(1.25));
    /// assert_eq!(cache.stats().stale_served, 1);
    /// # }
    /// ```
    pub fn stale(mut self, stale: Duration) -> Self {
        self.stale = Some(stale);
        self
    }

    /// After a failed reload, how long the kept value is served before the
    /// body is tried again (default 30 s, [`DEFAULT_STALE_RETRY`]); only
    /// matters with [`stale`](Self::stale). Must not be zero.
    ///
    /// [`DEFAULT_STALE_RETRY`]: crate::DEFAULT_STALE_RETRY
    ///
    /// ```
    /// use std::time::Duration;
    /// use memo_runtime::{AsyncCache, ConfigError};
    /// let err = AsyncCache::builder().stale_retry(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err, ConfigError::ZeroStaleRetry);
    /// ```
    pub fn stale_retry(mut self, retry: Duration) -> Self {
        self.stale_retry = Some(retry);
        self
    }

    /// Spreads expiry: each value stored with the default TTL lives a TTL
    /// drawn uniformly from `[ttl * (1 - jitter), ttl]`, so values stored
    /// together are not reloaded together. Never longer than the TTL;
    /// `jitter` must be in `[0, 1)`. `set_with_ttl` stores its exact TTL.
    ///
    /// ```
    /// use memo_runtime::{AsyncCache, ConfigError};
    /// assert!(AsyncCache::builder().jitter(0.2).build().is_ok());
    /// assert_eq!(AsyncCache::builder().jitter(1.5).build().unwrap_err(), ConfigError::BadJitter);
    /// ```
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// Refresh-ahead for [`get_or_refresh_with`]: a value older than
    /// `refresh` is returned at once and reloaded in the background, one
    /// reload per key. Must be shorter than the default TTL (else values
    /// expire before they are due); other calls (`get`,
    /// `get_or_insert_with`) treat a due value as any hit.
    ///
    /// [`get_or_refresh_with`]: AsyncCache::get_or_refresh_with
    ///
    /// ```
    /// use std::time::Duration;
    /// use memo_runtime::{AsyncCache, ConfigError};
    /// let err = AsyncCache::builder()
    ///     .default_ttl(Duration::from_secs(60))
    ///     .refresh_after(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err, ConfigError::RefreshNotBeforeTtl);
    /// ```
    pub fn refresh_after(mut self, refresh: Duration) -> Self {
        self.refresh = Some(refresh);
        self
    }

    /// A soft timeout for [`get_or_refresh_with`], with [`stale`]: when a
    /// key has expired but is kept, its reload runs in the background and
    /// the caller waits for it at most `timeout` (real time, not the
    /// cache's clock); then it gets the kept value while the reload goes
    /// on and stores its value when it lands. Callers that arrive while
    /// it runs get the kept value at once. Must not be zero.
    ///
    /// [`get_or_refresh_with`]: AsyncCache::get_or_refresh_with
    /// [`stale`]: Self::stale
    ///
    /// ```
    /// use std::time::Duration;
    /// use memo_runtime::{AsyncCache, ConfigError};
    /// let err = AsyncCache::builder()
    ///     .soft_timeout(Duration::from_millis(200))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err, ConfigError::SoftTimeoutWithoutStale);
    /// ```
    pub fn soft_timeout(mut self, timeout: Duration) -> Self {
        self.soft_timeout = Some(timeout);
        self
    }

    /// Time-to-idle: an entry not hit for `idle` expires, even within its
    /// TTL (each hit pushes its expiry back, never past the TTL; with
    /// [`stale`](Self::stale) it is then kept as usual). Like moka's
    /// `time_to_idle` and `cached`'s `refresh = true`. A hit on such an entry
    /// writes the time of the hit into it: a write on the hit path, for
    /// caches that ask for it only. Must not be zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use memo_runtime::{AsyncCache, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let sessions = AsyncCache::builder()
    ///     .default_ttl(Duration::from_secs(3600))
    ///     .time_to_idle(Duration::from_secs(600))
    ///     .clock(clock.clone())
    ///     .build()
    ///     .unwrap();
    /// sessions.set("ada", "token").await;
    /// clock.advance(Duration::from_secs(599));
    /// assert!(sessions.get::<_, &str>("ada").await.is_some()); // pushed back
    /// clock.advance(Duration::from_secs(599));
    /// assert!(sessions.get::<_, &str>("ada").await.is_some());
    /// clock.advance(Duration::from_secs(600));
    /// assert!(sessions.get::<_, &str>("ada").await.is_none()); // idle too long
    /// # }
    /// ```
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Builds the cache.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroMaxSize`], [`ConfigError::ZeroTtl`],
    /// [`ConfigError::ZeroStaleRetry`], [`ConfigError::BadJitter`] or
    /// [`ConfigError::RefreshNotBeforeTtl`]; the message says what to
    /// change.
    ///
    /// ```
    /// use memo_runtime::{AsyncCache, ConfigError};
    /// assert_eq!(AsyncCache::builder().max_size(0).build().err(), Some(ConfigError::ZeroMaxSize));
    /// ```
    pub fn build(self) -> Result<AsyncCache, ConfigError> {
        let ttl = self.default_ttl.map(config::validate_ttl).transpose()?;
        let max_size = self.max_size.map(config::validate_max_size).transpose()?;
        let stale_retry = self
            .stale_retry
            .map(config::validate_stale_retry)
            .transpose()?;
        let jitter = self.jitter.map(config::validate_jitter).transpose()?;
        let global = config::current_config();
        let defaults = global.policy();
        let policy = Policy {
            ttl: ttl.unwrap_or(defaults.ttl),
            stale: self.stale.unwrap_or(defaults.stale),
            stale_retry: stale_retry.unwrap_or(defaults.stale_retry),
            jitter: jitter.unwrap_or(defaults.jitter),
            refresh: self.refresh,
            idle: self.idle.or(defaults.idle),
        };
        if self.idle.is_some_and(|idle| idle.is_zero()) {
            return Err(ConfigError::ZeroIdle);
        }
        if let Some(timeout) = self.soft_timeout
            && (timeout.is_zero() || policy.stale.is_zero())
        {
            return Err(ConfigError::SoftTimeoutWithoutStale);
        }
        if let Some(refresh) = policy.refresh
            && (refresh.is_zero() || refresh >= policy.ttl)
        {
            return Err(ConfigError::RefreshNotBeforeTtl);
        }
        let max_size = match max_size {
            Some(max_size) => max_size,
            None => config::validate_max_size(global.get_max_size())?,
        };
        let eviction = self.eviction.unwrap_or(global.get_eviction());
        let clock = self.clock.as_ref().or(global.get_clock());
        let mut cache =
            AsyncCache::with_settings(policy, max_size, eviction, clock, global.is_enabled());
        cache.soft_timeout = self.soft_timeout;
        if let Some(name) = self.name {
            cache.register(name.into(), None);
        }
        Ok(cache)
    }
}
