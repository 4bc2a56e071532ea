//! How long a stored value is served, and how long it is kept: the only
//! place that turns TTLs into deadlines. The store compares deadlines with
//! its clock and nothing else.
//!
//! An entry's life, from the moment it is stored:
//!
//! ```text
//! stored ---- fresh ----> fresh_until ---- stale ----> keep_until  (gone)
//!        served as a hit          a miss, but the value is still
//!                                 there for a fallback to use
//! ```
//!
//! `keep_until` is `fresh_until` plus the `stale` window (zero unless set):
//! a stale value is not a hit, but a reload that fails serves it instead of
//! the failure (stale-if-error), and then serves it as a hit for
//! `stale_retry` before the body is tried again, never past `keep_until`.
//! Past `keep_until` an entry is expired: reclaimed when it is next looked
//! up, by the size bound, or by `cleanup_expired`.
//!
//! [`Policy`] is a cache's settings, [`Own`] a memoized function's own; a
//! call's [`Freshness`] comes from both, with the TTL jittered
//! ([`jitter`]).

mod clock;
mod jitter;
mod recent;

use std::num::NonZeroU64;
use std::time::Duration;

pub use clock::ManualClock;
pub(crate) use clock::{Clock, Instant};
pub(crate) use recent::precise;

/// A TTL this long never expires in practice; larger TTLs are clamped to it so
/// that deadlines never overflow.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A value that knows how long it may be cached: an OAuth token that
/// expires in `expires_in` seconds, a DNS answer with its own TTL. With
/// `#[cached(expires = true)]` each loaded value is kept for what
/// [`expires_after`](Expiry::expires_after) says, instead of the
/// function's `ttl`.
///
/// ```
/// use std::time::Duration;
/// use memo_runtime::{cached, Expiry};
///
/// #[derive(Clone)]
/// struct Token {
///     secret: String,
///     expires_in: u64,
/// }
///
/// impl Expiry for Token {
///     fn expires_after(&self) -> Option<Duration> {
///         // A little early, so that no caller gets a token about to lapse.
///         Some(Duration::from_secs(self.expires_in.saturating_sub(30)))
///     }
/// }
///
/// #[cached(expires = true)]
/// async fn token(scope: String) -> Result<Token, String> {
///     Ok(Token { secret: format!("for {scope}"), expires_in: 3600 })
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(token("read".into()).await.unwrap().secret, "for read");
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say when it expires",
    label = "`expires = true` needs the value to implement `memo_runtime::Expiry`",
    note = "implement `Expiry` for it (`fn expires_after(&self) -> Option<Duration>`), or remove `expires = true` to use the function's `ttl`"
)]
pub trait Expiry {
    /// How long this value may be cached from when it is stored; `None`
    /// for the function's (or the cache's) TTL. A zero duration stores
    /// nothing.
    fn expires_after(&self) -> Option<Duration>;
}

/// `cache_none = false` stores only `Some`: its value decides.
impl<T: Expiry> Expiry for Option<T> {
    fn expires_after(&self) -> Option<Duration> {
        self.as_ref().and_then(Expiry::expires_after)
    }
}

/// The default of `stale_retry`: how long a value served after a failed
/// reload is served before the body is tried again.
pub const DEFAULT_STALE_RETRY: Duration = Duration::from_secs(30);

/// A cache's freshness settings, all decided (its builder's, else the
/// global config's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    /// The TTL of values stored without one of their own.
    pub(crate) ttl: Duration,
    /// How long a value is kept past its TTL for stale-if-error; zero: not.
    pub(crate) stale: Duration,
    /// After a failed reload, the kept value is served this long before
    /// the body is tried again.
    pub(crate) stale_retry: Duration,
    /// Each stored TTL is drawn from `[ttl * (1 - jitter), ttl]`; in `[0, 1)`.
    pub(crate) jitter: f64,
    /// Values older than this are due for a reload in the background (for
    /// callers that can run one); `None`: never.
    pub(crate) refresh: Option<Duration>,
    /// Time-to-idle: a value not hit for this long expires (never later
    /// than its TTL); `None`: only the TTL counts.
    pub(crate) idle: Option<Duration>,
}

/// What a memoized function sets for itself; the rest comes from its cache.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Own {
    pub(crate) ttl: Option<Duration>,
    pub(crate) stale: Option<Duration>,
    pub(crate) stale_retry: Option<Duration>,
    pub(crate) jitter: Option<f64>,
    pub(crate) refresh: Option<Duration>,
    pub(crate) idle: Option<Duration>,
}

impl Own {
    /// Nothing of its own: the cache decides.
    pub(crate) const NONE: Own = Own {
        ttl: None,
        stale: None,
        stale_retry: None,
        jitter: None,
        refresh: None,
        idle: None,
    };

    /// Only a TTL of its own.
    pub(crate) const fn ttl(ttl: Option<Duration>) -> Own {
        Own { ttl, ..Own::NONE }
    }
}

impl Policy {
    /// The settings of one call: the function's own where it has them.
    #[inline(always)]
    pub(crate) fn with(&self, own: &Own) -> Policy {
        Policy {
            ttl: own.ttl.unwrap_or(self.ttl),
            stale: own.stale.unwrap_or(self.stale),
            stale_retry: own.stale_retry.unwrap_or(self.stale_retry),
            jitter: own.jitter.unwrap_or(self.jitter),
            refresh: own.refresh.or(self.refresh),
            idle: own.idle.or(self.idle),
        }
    }

    /// The freshness of a value stored now: the TTL jittered, then the
    /// stale window.
    pub(crate) fn freshness(&self) -> Freshness {
        Freshness {
            ttl: jitter::shorten(self.ttl, self.jitter),
            stale_for: self.stale,
            refresh: self.refresh,
            idle: self.idle,
        }
    }

    /// The freshness of a value stored with an exact TTL (`set_with_ttl`,
    /// or a copy of a shared-tier value): no jitter, the stale window.
    pub(crate) fn exactly(&self, ttl: Duration) -> Freshness {
        Freshness {
            ttl,
            stale_for: self.stale,
            refresh: self.refresh,
            idle: self.idle,
        }
    }

    /// The deadlines of a kept value served again after a failed reload at
    /// `now`: fresh for `stale_retry`, never past when it was to be dropped.
    pub(crate) fn retrying(&self, kept: Deadlines, now: Instant) -> Deadlines {
        let fresh_until = after(now, self.stale_retry).min(kept.keep_until);
        Deadlines {
            refresh_at: fresh_until,
            fresh_until,
            keep_until: kept.keep_until,
            idle: None,
        }
    }
}

/// How long a loaded value lives, as its loader tells the miss path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Only the shared tier learns whole lifespans.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum Lifespan {
    /// The call's settings: its TTL drawn with its jitter, its stale
    /// window, `refresh` and `idle`.
    Settings,
    /// A TTL of the value's own ([`Expiry`]), with the rest of the call's
    /// settings.
    Exactly(Duration),
    /// Decided whole by the loader: a copy of a value the shared tier
    /// keeps, whose deadlines follow Redis's.
    Copy(Freshness),
    /// A kept value served again after a failed load (hits on it count as
    /// stale served), decided whole like [`Lifespan::Copy`].
    Retrying(Freshness),
}

/// The `ttl_of` of loads whose values have no say in their lifespan.
pub(crate) fn settings<V>(_: &V) -> Lifespan {
    Lifespan::Settings
}

/// An [`Expiry`] answer: `None` leaves the value to the call's settings.
impl From<Option<Duration>> for Lifespan {
    #[inline(always)]
    fn from(ttl: Option<Duration>) -> Lifespan {
        ttl.map_or(Lifespan::Settings, Lifespan::Exactly)
    }
}

impl Policy {
    /// The freshness of a value loaded now that lives `lifespan`.
    #[inline]
    pub(crate) fn lifespan(&self, lifespan: Lifespan) -> Freshness {
        match lifespan {
            Lifespan::Settings => self.freshness(),
            Lifespan::Exactly(ttl) => self.exactly(ttl),
            Lifespan::Copy(freshness) | Lifespan::Retrying(freshness) => freshness,
        }
    }
}

/// How long one stored value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// Served as a hit for this long after it is stored.
    pub(crate) ttl: Duration,
    /// Kept this much longer, as a fallback (not a hit).
    pub(crate) stale_for: Duration,
    /// Due for a background reload this long after it is stored, if that
    /// is sooner than `ttl`.
    pub(crate) refresh: Option<Duration>,
    /// Expires when not hit for this long.
    pub(crate) idle: Option<Duration>,
}

impl Freshness {
    /// Fresh for `ttl`, then gone.
    #[cfg(test)]
    pub(crate) fn ttl(ttl: Duration) -> Freshness {
        Freshness {
            ttl,
            stale_for: Duration::ZERO,
            refresh: None,
            idle: None,
        }
    }

    /// Whether a value with this freshness would be stale the moment it is
    /// stored (a zero TTL): storing it would only delete what is there.
    pub(crate) fn is_dead_on_arrival(&self) -> bool {
        self.ttl.is_zero()
    }

    /// The deadlines of a value stored at `stored_at`.
    #[inline]
    pub(crate) fn deadlines(&self, stored_at: Instant) -> Deadlines {
        let fresh_until = after(stored_at, self.ttl);
        let refresh_at = match self.refresh {
            Some(refresh) => after(stored_at, refresh).min(fresh_until),
            None => fresh_until,
        };
        Deadlines {
            refresh_at,
            fresh_until,
            keep_until: after(fresh_until, self.stale_for),
            idle: self.idle.map(|idle| nanos(idle.min(FOREVER))),
        }
    }
}

/// When a stored value stops being served, and when it stops being kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadlines {
    /// From here to `fresh_until` the value is still a hit, and due for a
    /// reload in the background; without `refresh`, `fresh_until`.
    pub(crate) refresh_at: Instant,
    pub(crate) fresh_until: Instant,
    pub(crate) keep_until: Instant,
    /// Time-to-idle in nanoseconds: the entry also goes stale this long
    /// after its last hit (the entry keeps the time of that hit).
    pub(crate) idle: Option<NonZeroU64>,
}

/// Where in its life an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Age {
    /// Before `refresh_at`: a hit.
    Fresh,
    /// From `refresh_at` to `fresh_until`: a hit, due for a reload.
    Due,
    /// From `fresh_until` to `keep_until`: a miss, but kept.
    Stale,
    /// From `keep_until` on: to be reclaimed.
    Expired,
}

impl Deadlines {
    #[inline(always)]
    pub(crate) fn age(&self, now: Instant) -> Age {
        if now < self.refresh_at {
            Age::Fresh
        } else if now < self.fresh_until {
            Age::Due
        } else if now < self.keep_until {
            Age::Stale
        } else {
            Age::Expired
        }
    }

    /// Whether the entry may be reclaimed at `now`.
    #[inline]
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        now >= self.keep_until
    }
}

/// `duration` in nanoseconds, at least one.
fn nanos(duration: Duration) -> NonZeroU64 {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    NonZeroU64::new(nanos).unwrap_or(NonZeroU64::MIN)
}

/// `start + by`, clamped so that it never overflows.
#[inline]
fn after(start: Instant, by: Duration) -> Instant {
    start
        .checked_add(by.min(FOREVER))
        .unwrap_or_else(|| start.checked_add(FOREVER).unwrap_or(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(clock: &ManualClock) -> Instant {
        Clock::from(clock.clone()).now()
    }

    #[test]
    fn an_entry_is_fresh_then_stale_then_expired() {
        let clock = ManualClock::new();
        let freshness = Freshness {
            ttl: Duration::from_secs(10),
            stale_for: Duration::from_secs(5),
            refresh: Some(Duration::from_secs(8)),
            idle: None,
        };
        let deadlines = freshness.deadlines(at(&clock));
        clock.advance(Duration::from_nanos(7_999_999_999));
        assert_eq!(deadlines.age(at(&clock)), Age::Fresh);
        clock.advance(Duration::from_nanos(1));
        assert_eq!(deadlines.age(at(&clock)), Age::Due);
        clock.advance(Duration::from_nanos(1_999_999_999));
        assert_eq!(deadlines.age(at(&clock)), Age::Due);
        clock.advance(Duration::from_nanos(1));
        assert_eq!(deadlines.age(at(&clock)), Age::Stale);
        assert!(!deadlines.is_expired(at(&clock)));
        clock.advance(Duration::from_secs(5));
        assert_eq!(deadlines.age(at(&clock)), Age::Expired);
        assert!(deadlines.is_expired(at(&clock)));
    }

    #[test]
    fn without_a_stale_window_an_entry_expires_at_its_ttl() {
        let clock = ManualClock::new();
        let deadlines = Freshness::ttl(Duration::from_millis(5)).deadlines(at(&clock));
        assert_eq!(deadlines.fresh_until, deadlines.keep_until);
        clock.advance(Duration::from_millis(5));
        assert_eq!(deadlines.age(at(&clock)), Age::Expired);
    }

    #[test]
    fn huge_ttls_do_not_overflow() {
        let start = Clock::system().now();
        let forever = Freshness {
            ttl: Duration::MAX,
            stale_for: Duration::MAX,
            refresh: Some(Duration::MAX),
            idle: Some(Duration::MAX),
        }
        .deadlines(start);
        let hour = Freshness::ttl(Duration::from_secs(3600)).deadlines(start);
        assert!(forever.fresh_until > hour.fresh_until);
        assert!(forever.keep_until >= forever.fresh_until);
    }

    fn policy() -> Policy {
        Policy {
            ttl: Duration::from_secs(300),
            stale: Duration::from_secs(60),
            stale_retry: Duration::from_secs(5),
            jitter: 0.0,
            refresh: None,
            idle: None,
        }
    }

    #[test]
    fn a_call_takes_its_own_settings_and_the_cache_the_rest() {
        let cache = policy();
        assert_eq!(cache.with(&Own::NONE), cache);
        let own = Own {
            ttl: Some(Duration::from_secs(1)),
            jitter: Some(0.5),
            ..Own::NONE
        };
        let call = cache.with(&own);
        assert_eq!((call.ttl, call.jitter), (Duration::from_secs(1), 0.5));
        assert_eq!(
            (call.stale, call.stale_retry),
            (cache.stale, cache.stale_retry)
        );
        assert_eq!(cache.freshness().stale_for, Duration::from_secs(60));
        assert!(Freshness::ttl(Duration::ZERO).is_dead_on_arrival());
    }

    #[test]
    fn a_retried_value_is_fresh_for_stale_retry_but_never_past_its_window() {
        let clock = ManualClock::new();
        let cache = policy();
        let kept = cache.freshness().deadlines(at(&clock));
        clock.advance(Duration::from_secs(301));
        let retrying = cache.retrying(kept, at(&clock));
        assert_eq!(retrying.keep_until, kept.keep_until);
        clock.advance(Duration::from_nanos(4_999_999_999));
        assert_eq!(retrying.age(at(&clock)), Age::Fresh);
        clock.advance(Duration::from_nanos(1));
        assert_eq!(retrying.age(at(&clock)), Age::Stale);
        // Two seconds before the window closes, a retry lasts two seconds.
        clock.advance(Duration::from_secs(53));
        let last = cache.retrying(kept, at(&clock));
        assert_eq!(last.fresh_until, kept.keep_until);
    }
}
