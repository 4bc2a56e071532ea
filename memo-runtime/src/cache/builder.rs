//! [`AsyncCacheBuilder`]: a cache's own settings, the rest from the global
//! [`Config`](crate::Config).

use std::time::Duration;

use super::AsyncCache;
use crate::config::{self, ConfigError};
use crate::freshness::ManualClock;
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
}

impl AsyncCacheBuilder {
    /// The TTL of entries stored without one of their own. Must not be zero.
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

    /// The most entries the cache holds. Must not be zero.
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

    /// Builds the cache.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroMaxSize`] or [`ConfigError::ZeroTtl`]; the message
    /// says what to change.
    ///
    /// ```
    /// use memo_runtime::{AsyncCache, ConfigError};
    /// assert_eq!(AsyncCache::builder().max_size(0).build().err(), Some(ConfigError::ZeroMaxSize));
    /// ```
    pub fn build(self) -> Result<AsyncCache, ConfigError> {
        let ttl = self.default_ttl.map(config::validate_ttl).transpose()?;
        let max_size = self.max_size.map(config::validate_max_size).transpose()?;
        let global = config::current_config();
        let ttl = ttl.unwrap_or(global.get_default_ttl());
        let max_size = match max_size {
            Some(max_size) => max_size,
            None => config::validate_max_size(global.get_max_size())?,
        };
        let eviction = self.eviction.unwrap_or(global.get_eviction());
        let clock = self.clock.as_ref().or(global.get_clock());
        Ok(AsyncCache::with_settings(
            ttl,
            max_size,
            eviction,
            clock,
            global.is_enabled(),
        ))
    }
}
