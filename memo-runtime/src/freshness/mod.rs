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
//! Today `keep_until` equals `fresh_until` (no stale window); stale-if-error
//! will widen it. Past `keep_until` an entry is expired: reclaimed when it is
//! next looked up, by the size bound, or by `cleanup_expired`.

mod clock;

use std::time::Duration;

pub use clock::ManualClock;
pub(crate) use clock::{Clock, Instant};

/// A TTL this long never expires in practice; larger TTLs are clamped to it so
/// that deadlines never overflow.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How long one stored value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// Served as a hit for this long after it is stored.
    pub(crate) ttl: Duration,
    /// Kept this much longer, as a fallback (not a hit).
    pub(crate) stale_for: Duration,
}

impl Freshness {
    /// Fresh for `ttl`, then gone.
    pub(crate) fn ttl(ttl: Duration) -> Freshness {
        Freshness {
            ttl,
            stale_for: Duration::ZERO,
        }
    }

    /// The TTL a call uses: its own (a memoized function's `ttl = ..`, or
    /// `set_with_ttl`'s), else its cache's default.
    pub(crate) fn of_call(own_ttl: Option<Duration>, cache_default: Duration) -> Freshness {
        Freshness::ttl(own_ttl.unwrap_or(cache_default))
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
        Deadlines {
            fresh_until,
            keep_until: after(fresh_until, self.stale_for),
        }
    }
}

/// When a stored value stops being served, and when it stops being kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadlines {
    pub(crate) fresh_until: Instant,
    pub(crate) keep_until: Instant,
}

/// Where in its life an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Age {
    /// Before `fresh_until`: a hit.
    Fresh,
    /// From `fresh_until` to `keep_until`: a miss, but kept.
    Stale,
    /// From `keep_until` on: to be reclaimed.
    Expired,
}

impl Deadlines {
    #[inline(always)]
    pub(crate) fn age(&self, now: Instant) -> Age {
        if now < self.fresh_until {
            Age::Fresh
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
        };
        let deadlines = freshness.deadlines(at(&clock));
        clock.advance(Duration::from_nanos(9_999_999_999));
        assert_eq!(deadlines.age(at(&clock)), Age::Fresh);
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
        }
        .deadlines(start);
        let hour = Freshness::ttl(Duration::from_secs(3600)).deadlines(start);
        assert!(forever.fresh_until > hour.fresh_until);
        assert!(forever.keep_until >= forever.fresh_until);
    }

    #[test]
    fn a_call_without_its_own_ttl_takes_the_cache_default() {
        let default = Duration::from_secs(300);
        assert_eq!(Freshness::of_call(None, default).ttl, default);
        let own = Duration::from_secs(1);
        assert_eq!(Freshness::of_call(Some(own), default).ttl, own);
        assert!(Freshness::ttl(Duration::ZERO).is_dead_on_arrival());
    }
}
