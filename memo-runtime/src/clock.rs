//! The monotonic clock that TTLs run on.
//!
//! Storing an entry reads the precise monotonic clock (`CLOCK_MONOTONIC`, what
//! `std::time::Instant` reads). A hit only needs to know whether the entry has
//! expired, and asks the coarse clock (`CLOCK_MONOTONIC_COARSE`, a few
//! nanoseconds instead of ~20): it is the same clock as of the last timer tick,
//! so `coarse + tick` is never earlier than the true time. Comparing that upper
//! bound with the deadline means an entry may expire up to one tick (1-4 ms on
//! Linux) early, and is never served after its TTL. Elsewhere both reads are
//! `Instant`.

use std::sync::LazyLock;
use std::time::Duration;

/// Nanoseconds on the monotonic clock, from an arbitrary origin.
pub(crate) type Nanos = u64;

/// The precise time now.
#[inline]
pub(crate) fn now() -> Nanos {
    imp::precise()
}

/// A time that is not earlier than now, cheap to read.
#[inline]
pub(crate) fn now_upper_bound() -> Nanos {
    imp::coarse_upper()
}

/// The deadline `ttl` after `start`, saturating at `u64::MAX` (never).
#[inline]
pub(crate) fn deadline(start: Nanos, ttl: Duration) -> Nanos {
    let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
    start.saturating_add(ttl)
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;

    fn read(clock: libc::clockid_t) -> Nanos {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec and both clock ids exist
        // on every Linux since 2.6.32; the call cannot fail for them.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// The coarse clock's resolution: how far it may lag the precise one.
    static TICK: LazyLock<Nanos> = LazyLock::new(|| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as above.
        unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
    });

    #[inline]
    pub(super) fn precise() -> Nanos {
        read(libc::CLOCK_MONOTONIC)
    }

    #[inline]
    pub(super) fn coarse_upper() -> Nanos {
        read(libc::CLOCK_MONOTONIC_COARSE) + *TICK
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;
    use std::time::Instant;

    static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

    #[inline]
    pub(super) fn precise() -> Nanos {
        u64::try_from(ORIGIN.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    #[inline]
    pub(super) fn coarse_upper() -> Nanos {
        precise()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_is_never_behind_the_precise_clock() {
        for _ in 0..10_000 {
            let precise = now();
            assert!(now_upper_bound() >= precise);
        }
    }

    #[test]
    fn deadlines_saturate() {
        assert_eq!(deadline(5, Duration::MAX), u64::MAX);
        assert_eq!(deadline(5, Duration::from_nanos(10)), 15);
    }
}
