//! The monotonic clock that TTLs run on.
//!
//! Both the deadline of an entry and the check on a hit read one clock:
//! `quanta`'s, which reads the CPU's invariant time-stamp counter where the OS
//! trusts it (a few nanoseconds, against ~20 for `std::time::Instant` on this
//! kind of machine) and the OS monotonic clock elsewhere. It never goes back,
//! and wall-clock changes do not move it.
//!
//! (The kernel's coarse clock is cheaper still but was measured lagging the
//! precise one by more than its stated resolution on an idle tickless kernel,
//! so it cannot bound an entry's life from above; it is not used.)

use std::sync::LazyLock;
use std::time::Duration;

pub(crate) use quanta::Instant;

static CLOCK: LazyLock<quanta::Clock> = LazyLock::new(quanta::Clock::new);

/// A TTL this long never expires in practice; larger TTLs are clamped to it so
/// that deadlines never overflow.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The time now.
#[inline]
pub(crate) fn now() -> Instant {
    CLOCK.now()
}

/// The deadline `ttl` after `start`.
#[inline]
pub(crate) fn deadline(start: Instant, ttl: Duration) -> Instant {
    start
        .checked_add(ttl.min(FOREVER))
        .unwrap_or_else(|| start.checked_add(FOREVER).unwrap_or(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_back() {
        let mut last = now();
        for _ in 0..100_000 {
            let next = now();
            assert!(next >= last);
            last = next;
        }
    }

    #[test]
    fn deadlines_are_ttl_away_and_huge_ttls_do_not_overflow() {
        let start = now();
        assert_eq!(
            deadline(start, Duration::from_millis(5)).duration_since(start),
            Duration::from_millis(5)
        );
        assert!(deadline(start, Duration::MAX) > deadline(start, Duration::from_secs(3600)));
    }
}
