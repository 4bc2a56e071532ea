//! Process-wide defaults, set once at startup.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::time::Duration;

use crate::freshness::{DEFAULT_STALE_RETRY, ManualClock, Policy};
use crate::local::policy::Eviction;

/// The TTL of a cache that sets none, unless [`configure`] says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The bound of a cache that sets none, unless [`configure`] says otherwise.
pub const DEFAULT_MAX_SIZE: usize = 1000;

/// Process-wide defaults for every cache that does not set its own.
///
/// Build one with [`Config::default`] and the chained setters, then install it
/// with [`configure`] once, at startup, before any cache exists.
///
/// ```
/// use std::time::Duration;
/// use memo_runtime::Config;
///
/// let config = Config::default()
///     .default_ttl(Duration::from_secs(60))
///     .max_size(10_000);
/// assert_eq!(config.get_default_ttl(), Duration::from_secs(60));
/// assert_eq!(config.get_max_size(), 10_000);
/// assert!(config.is_enabled());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    default_ttl: Duration,
    max_size: usize,
    eviction: Eviction,
    enabled: bool,
    clock: Option<ManualClock>,
    stale: Duration,
    stale_retry: Duration,
    idle: Option<Duration>,
    /// The jitter fraction's bits, so that the config stays `Eq`; checked
    /// by [`validate`](Config::validate).
    jitter_bits: u64,
    #[cfg(feature = "redis")]
    shared_tier: Option<crate::SharedTier>,
}

impl Default for Config {
    /// TTL 300 s, `max_size` 1000, S3-FIFO eviction, caching enabled; no
    /// stale window (`stale_retry` 30 s once there is one), no jitter.
    fn default() -> Self {
        Config {
            default_ttl: DEFAULT_TTL,
            max_size: DEFAULT_MAX_SIZE,
            eviction: Eviction::S3Fifo,
            enabled: true,
            clock: None,
            stale: Duration::ZERO,
            stale_retry: DEFAULT_STALE_RETRY,
            idle: None,
            jitter_bits: 0f64.to_bits(),
            #[cfg(feature = "redis")]
            shared_tier: None,
        }
    }
}

impl Config {
    /// How long an entry lives when neither its cache nor its function says.
    /// Zero is rejected by [`configure`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = memo_runtime::Config::default().default_ttl(Duration::from_millis(1500));
    /// assert_eq!(config.get_default_ttl(), Duration::from_millis(1500));
    /// ```
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// How many entries a cache holds when it sets no bound of its own (each
    /// memoized function has its own cache). Zero is rejected by [`configure`].
    ///
    /// ```
    /// let config = memo_runtime::Config::default().max_size(50);
    /// assert_eq!(config.get_max_size(), 50);
    /// ```
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// The eviction policy of caches that do not choose one.
    ///
    /// ```
    /// use memo_runtime::{Config, Eviction};
    /// let config = Config::default().eviction(Eviction::Fifo);
    /// assert_eq!(config.get_eviction(), Eviction::Fifo);
    /// ```
    pub fn eviction(mut self, eviction: Eviction) -> Self {
        self.eviction = eviction;
        self
    }

    /// The eviction policy this config sets.
    ///
    /// ```
    /// use memo_runtime::{Config, Eviction};
    /// assert_eq!(Config::default().get_eviction(), Eviction::S3Fifo);
    /// ```
    pub fn get_eviction(&self) -> Eviction {
        self.eviction
    }

    /// `false` turns caching off, for the attribute and the API alike:
    /// every cache built under this config stores nothing and finds
    /// nothing. A memoized call runs its body every time;
    /// [`AsyncCache`](crate::AsyncCache)'s `get_or_insert_with` runs its
    /// `init` every time, `set` stores nothing and `get` finds nothing.
    /// Nothing is counted in the statistics either. Meant for tests of the
    /// functions themselves, and as a switch to rule the cache out when
    /// chasing a bug.
    ///
    /// ```
    /// let config = memo_runtime::Config::default().enabled(false);
    /// assert!(!config.is_enabled());
    /// ```
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Runs every cache that does not choose its own clock (every memoized
    /// function's among them) on `clock`, a [`ManualClock`] that tests
    /// advance instead of sleeping. Without it, caches use the system's
    /// monotonic clock.
    ///
    /// ```
    /// use memo_runtime::{Config, ManualClock};
    /// let clock = ManualClock::new();
    /// let config = Config::default().clock(clock.clone());
    /// assert_eq!(config.get_clock(), Some(&clock));
    /// ```
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Stale-if-error for caches that do not choose: keep each value this
    /// long past its TTL, and when a reload fails (an `Err`, or a panic),
    /// serve the kept value instead of the failure. Zero (the default)
    /// keeps nothing. See [`AsyncCacheBuilder::stale`](crate::AsyncCacheBuilder::stale).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = memo_runtime::Config::default().stale(Duration::from_secs(3600));
    /// assert_eq!(config.get_stale(), Duration::from_secs(3600));
    /// ```
    pub fn stale(mut self, stale: Duration) -> Self {
        self.stale = stale;
        self
    }

    /// After a failed reload, how long the kept value is served before the
    /// body is tried again; the default is 30 s. Zero is rejected by
    /// [`configure`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = memo_runtime::Config::default().stale_retry(Duration::from_secs(5));
    /// assert_eq!(config.get_stale_retry(), Duration::from_secs(5));
    /// ```
    pub fn stale_retry(mut self, retry: Duration) -> Self {
        self.stale_retry = retry;
        self
    }

    /// Spreads expiry: each value stored with the default TTL lives a TTL
    /// drawn uniformly from `[ttl * (1 - jitter), ttl]`. `jitter` must be in
    /// `[0, 1)`; [`configure`] rejects anything else.
    ///
    /// ```
    /// let config = memo_runtime::Config::default().jitter(0.1);
    /// assert_eq!(config.get_jitter(), 0.1);
    /// ```
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter_bits = jitter.to_bits();
        self
    }

    /// Time-to-idle for caches that do not choose: an entry not hit for
    /// `idle` expires, never later than its TTL. See
    /// [`AsyncCacheBuilder::time_to_idle`](crate::AsyncCacheBuilder::time_to_idle).
    /// Zero is rejected by [`configure`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = memo_runtime::Config::default().time_to_idle(Duration::from_secs(600));
    /// assert_eq!(config.get_time_to_idle(), Some(Duration::from_secs(600)));
    /// ```
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// The time-to-idle this config sets, if any.
    ///
    /// ```
    /// assert_eq!(memo_runtime::Config::default().get_time_to_idle(), None);
    /// ```
    pub fn get_time_to_idle(&self) -> Option<Duration> {
        self.idle
    }

    /// The stale window this config sets (zero: none).
    ///
    /// ```
    /// assert!(memo_runtime::Config::default().get_stale().is_zero());
    /// ```
    pub fn get_stale(&self) -> Duration {
        self.stale
    }

    /// The retry throttle of stale-if-error this config sets.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(memo_runtime::Config::default().get_stale_retry(), Duration::from_secs(30));
    /// ```
    pub fn get_stale_retry(&self) -> Duration {
        self.stale_retry
    }

    /// The TTL jitter this config sets (zero: none).
    ///
    /// ```
    /// assert_eq!(memo_runtime::Config::default().get_jitter(), 0.0);
    /// ```
    pub fn get_jitter(&self) -> f64 {
        f64::from_bits(self.jitter_bits)
    }

    /// The shared tier of memoized functions marked `#[cached(shared)]`
    /// (feature `redis`). Without it they cache in memory only, with one
    /// warning on stderr.
    ///
    /// ```
    /// use memo_runtime::{Config, SharedTier};
    /// let tier = SharedTier::redis("redis://127.0.0.1:6379").unwrap();
    /// let config = Config::default().shared_tier(tier.clone());
    /// assert_eq!(config.get_shared_tier(), Some(&tier));
    /// ```
    #[cfg(feature = "redis")]
    pub fn shared_tier(mut self, tier: crate::SharedTier) -> Self {
        self.shared_tier = Some(tier);
        self
    }

    /// The shared tier this config sets, if any (feature `redis`).
    ///
    /// ```
    /// assert_eq!(memo_runtime::Config::default().get_shared_tier(), None);
    /// ```
    #[cfg(feature = "redis")]
    pub fn get_shared_tier(&self) -> Option<&crate::SharedTier> {
        self.shared_tier.as_ref()
    }

    /// The manual clock this config sets, if any.
    ///
    /// ```
    /// assert_eq!(memo_runtime::Config::default().get_clock(), None);
    /// ```
    pub fn get_clock(&self) -> Option<&ManualClock> {
        self.clock.as_ref()
    }

    /// The default TTL this config sets.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(memo_runtime::Config::default().get_default_ttl(), Duration::from_secs(300));
    /// ```
    pub fn get_default_ttl(&self) -> Duration {
        self.default_ttl
    }

    /// The default bound this config sets.
    ///
    /// ```
    /// assert_eq!(memo_runtime::Config::default().get_max_size(), 1000);
    /// ```
    pub fn get_max_size(&self) -> usize {
        self.max_size
    }

    /// Whether memoization is on.
    ///
    /// ```
    /// assert!(memo_runtime::Config::default().is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        validate_ttl(self.default_ttl)?;
        validate_max_size(self.max_size)?;
        validate_stale_retry(self.stale_retry)?;
        validate_jitter(self.get_jitter())?;
        if self.idle.is_some_and(|idle| idle.is_zero()) {
            return Err(ConfigError::ZeroIdle);
        }
        Ok(())
    }

    /// The freshness settings of caches that do not choose their own.
    pub(crate) fn policy(&self) -> Policy {
        Policy {
            ttl: self.default_ttl,
            stale: self.stale,
            stale_retry: self.stale_retry,
            jitter: self.get_jitter(),
            // Refresh-ahead needs owned arguments, which only a function's
            // own `refresh` (checked at compile time) or a call to
            // `get_or_refresh_with` guarantee: it is never a global default.
            refresh: None,
            idle: self.idle,
        }
    }
}

/// A setting was rejected. The message says what to change.
///
/// ```
/// use memo_runtime::{AsyncCache, ConfigError};
///
/// let err = AsyncCache::builder().max_size(0).build().unwrap_err();
/// assert_eq!(err, ConfigError::ZeroMaxSize);
/// assert!(err.to_string().contains("at least 1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_size(0)`: a cache that can hold nothing.
    ZeroMaxSize,
    /// A TTL of zero: every entry would be expired when stored.
    ZeroTtl,
    /// [`configure`] was already called.
    AlreadyConfigured,
    /// A cache already exists and has read the defaults; changing them now
    /// would give caches different defaults depending on when they started.
    CachesAlreadyCreated,
    /// A `stale_retry` of zero: a failing body would run on every call.
    ZeroStaleRetry,
    /// A jitter outside `[0, 1)`, or not a number.
    BadJitter,
    /// A `refresh_after` of zero, or not shorter than the TTL.
    RefreshNotBeforeTtl,
    /// A `time_to_idle` of zero: every entry would expire as it is stored.
    ZeroIdle,
    /// A `soft_timeout` of zero, or without a `stale` window to serve.
    SoftTimeoutWithoutStale,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroMaxSize => {
                "memo: max_size must be at least 1; a cache that holds nothing caches nothing \
                 (to turn caching off, use Config::enabled(false))"
            }
            ConfigError::ZeroTtl => {
                "memo: a TTL must be longer than zero; every entry would expire as it is stored \
                 (to turn caching off, use Config::enabled(false))"
            }
            ConfigError::AlreadyConfigured => {
                "memo: configure() was already called; call it once, at startup"
            }
            ConfigError::CachesAlreadyCreated => {
                "memo: configure() was called after a cache was created with the defaults; \
                 call it at the start of main, before any cache or memoized function is used"
            }
            ConfigError::ZeroStaleRetry => {
                "memo: stale_retry must be longer than zero; after a failed reload the kept value \
                 is served that long before the body is tried again (the default is 30 s)"
            }
            ConfigError::BadJitter => {
                "memo: jitter must be a fraction in [0, 1): each TTL is drawn from \
                 [ttl * (1 - jitter), ttl], so 0.1 spreads expiry over the last tenth"
            }
            ConfigError::RefreshNotBeforeTtl => {
                "memo: refresh_after must be longer than zero and shorter than the TTL; a value \
                 is reloaded in the background once it is that old, which must happen before \
                 it expires"
            }
            ConfigError::SoftTimeoutWithoutStale => {
                "memo: soft_timeout needs stale (a kept value to answer with when the reload is \
                 slower) and must be longer than zero; add .stale(..) or remove .soft_timeout(..)"
            }
            ConfigError::ZeroIdle => {
                "memo: time_to_idle must be longer than zero; an entry not hit for that long \
                 expires, so zero would expire every entry as it is stored"
            }
        })
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn validate_ttl(ttl: Duration) -> Result<Duration, ConfigError> {
    if ttl.is_zero() {
        Err(ConfigError::ZeroTtl)
    } else {
        Ok(ttl)
    }
}

pub(crate) fn validate_stale_retry(retry: Duration) -> Result<Duration, ConfigError> {
    if retry.is_zero() {
        Err(ConfigError::ZeroStaleRetry)
    } else {
        Ok(retry)
    }
}

pub(crate) fn validate_jitter(jitter: f64) -> Result<f64, ConfigError> {
    if (0.0..1.0).contains(&jitter) {
        Ok(jitter)
    } else {
        Err(ConfigError::BadJitter)
    }
}

pub(crate) fn validate_max_size(max_size: usize) -> Result<NonZeroUsize, ConfigError> {
    NonZeroUsize::new(max_size).ok_or(ConfigError::ZeroMaxSize)
}

/// Who settled the global config: [`configure`], or the first cache that
/// needed the defaults before anyone called it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SettledBy {
    Configure,
    FirstCache,
}

static GLOBAL: OnceLock<(Config, SettledBy)> = OnceLock::new();

/// Installs process-wide defaults. Call it once, at the start of `main`,
/// before any cache or memoized function is used.
///
/// # Errors
///
/// - [`ConfigError::ZeroTtl`], [`ConfigError::ZeroMaxSize`],
///   [`ConfigError::ZeroStaleRetry`], [`ConfigError::BadJitter`] or
///   [`ConfigError::ZeroIdle`] for a bad
///   value;
/// - [`ConfigError::AlreadyConfigured`] if it was called before;
/// - [`ConfigError::CachesAlreadyCreated`] if a cache already read the
///   defaults.
///
/// In every error case nothing changes.
///
/// ```
/// use std::time::Duration;
/// use memo_runtime::{configure, Config, ConfigError};
///
/// configure(Config::default().default_ttl(Duration::from_secs(30))).unwrap();
/// assert_eq!(configure(Config::default()), Err(ConfigError::AlreadyConfigured));
/// assert_eq!(memo_runtime::current_config().get_default_ttl(), Duration::from_secs(30));
/// ```
pub fn configure(config: Config) -> Result<(), ConfigError> {
    config.validate()?;
    let mut installed = false;
    let (_, settled_by) = GLOBAL.get_or_init(|| {
        installed = true;
        (config, SettledBy::Configure)
    });
    match (installed, settled_by) {
        (true, _) => Ok(()),
        (false, SettledBy::Configure) => Err(ConfigError::AlreadyConfigured),
        (false, SettledBy::FirstCache) => Err(ConfigError::CachesAlreadyCreated),
    }
}

/// The defaults in force. Reading them settles them: a later [`configure`]
/// fails with [`ConfigError::CachesAlreadyCreated`].
///
/// ```
/// let config = memo_runtime::current_config();
/// assert_eq!(config.get_max_size(), 1000);
/// ```
pub fn current_config() -> &'static Config {
    &GLOBAL
        .get_or_init(|| (Config::default(), SettledBy::FirstCache))
        .0
}
