//! The clock a cache reads: the system's monotonic clock, or the manual one
//! tests drive, both as an [`Instant`] in nanoseconds.
//!
//! The system clock is the [`recent`] time: one atomic load
//! on a hit, at most about a millisecond behind the precise clock, which is
//! `quanta`'s (the CPU's invariant time-stamp counter where the OS trusts
//! it, the OS monotonic clock elsewhere). It never goes back, and wall-clock
//! changes do not move it. A [`ManualClock`] replaces it where a test wants
//! time to pass without sleeping.
//!
//! (The kernel's coarse clock was measured lagging the precise one by more
//! than its stated resolution on an idle tickless kernel, so it cannot bound
//! an entry's life from above; it is not used.)

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::recent;

/// A point in time on one [`Clock`], in nanoseconds from that clock's
/// origin. Times of different clocks are not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Instant(u64);

impl Instant {
    /// `self + by`, unless that is past what a `u64` of nanoseconds holds.
    #[inline]
    pub(crate) fn checked_add(self, by: Duration) -> Option<Instant> {
        let by = u64::try_from(by.as_nanos()).ok()?;
        self.0.checked_add(by).map(Instant)
    }

    /// How long after `earlier` this is; zero if it is not after it.
    #[inline]
    pub(crate) fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// The clock one cache reads: the system's, or a [`ManualClock`]'s.
///
/// A cache holds it by value, so reading it on a hit is one branch on the
/// clock's kind and one load.
#[derive(Clone)]
pub(crate) enum Clock {
    System,
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The fast monotonic clock every cache uses unless told otherwise.
    pub(crate) fn system() -> Clock {
        Clock::System
    }

    /// The time now.
    #[inline(always)]
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::System => Instant(recent::now()),
            Clock::Manual(time) => Instant(time.load(Relaxed)),
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Clock {
        Clock::Manual(manual.time)
    }
}

/// A clock that moves only when told to, for tests of time-dependent
/// behaviour (TTL expiry) that should neither sleep nor be flaky; like
/// Caffeine's `Ticker` or moka's mock clock.
///
/// Give it to a cache with
/// [`AsyncCacheBuilder::clock`](crate::AsyncCacheBuilder::clock), or to every
/// cache that does not choose one (memoized functions included) with
/// [`Config::clock`](crate::Config::clock). Clones share one time: advancing
/// any of them advances them all. It starts at zero and never goes back.
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
///     .clock(clock.clone())
///     .build()
///     .unwrap();
/// cache.set("token", 7u32).await;
///
/// clock.advance(Duration::from_secs(59));
/// assert_eq!(cache.get::<_, u32>("token").await, Some(7));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(cache.get::<_, u32>("token").await, None); // expired, no sleep
/// # }
/// ```
#[derive(Clone)]
pub struct ManualClock {
    /// Nanoseconds since the clock was made; shared by its clones.
    time: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    ///
    /// ```
    /// let clock = memo_runtime::ManualClock::new();
    /// assert_eq!(clock.elapsed(), std::time::Duration::ZERO);
    /// ```
    pub fn new() -> ManualClock {
        ManualClock {
            time: Arc::default(),
        }
    }

    /// Moves the clock (and every clone of it) forward by `by`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = memo_runtime::ManualClock::new();
    /// let same = clock.clone();
    /// clock.advance(Duration::from_millis(1500));
    /// assert_eq!(same.elapsed(), Duration::from_millis(1500));
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .time
            .fetch_update(Relaxed, Relaxed, |time| Some(time.saturating_add(by)));
    }

    /// How far the clock has been advanced since it was made.
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = memo_runtime::ManualClock::new();
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(clock.elapsed(), Duration::from_secs(2));
    /// ```
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.time.load(Relaxed))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

/// Two handles are equal when they are the same clock (clones of one
/// another), not when they happen to show the same time.
impl PartialEq for ManualClock {
    fn eq(&self, other: &ManualClock) -> bool {
        Arc::ptr_eq(&self.time, &other.time)
    }
}

impl Eq for ManualClock {}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_never_goes_back() {
        let clock = Clock::system();
        let mut last = clock.now();
        for _ in 0..100_000 {
            let next = clock.now();
            assert!(next >= last);
            last = next;
        }
    }

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let manual = ManualClock::new();
        let clock = Clock::from(manual.clone());
        let start = clock.now();
        assert_eq!(clock.now(), start);
        manual.clone().advance(Duration::from_millis(5));
        assert_eq!(
            clock.now().saturating_duration_since(start),
            Duration::from_millis(5)
        );
        assert_eq!(manual, manual.clone());
        assert_ne!(manual, ManualClock::new());
    }
}
