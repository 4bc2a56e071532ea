//! TTL jitter: entries stored together should not expire together, or
//! their reloads arrive at the backend together too.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

thread_local! {
    /// Seeded per thread from the standard library's random hasher keys.
    static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0u64) | 1);
}

/// A uniform number in `[0, 1)` (xorshift64*: plenty for spreading TTLs,
/// no lock, no shared cache line).
fn unit() -> f64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        // The top 53 bits, as a fraction.
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// `ttl` shortened by a uniform fraction of at most `jitter`: a TTL in
/// `[ttl * (1 - jitter), ttl]`, never longer than `ttl`.
pub(crate) fn shorten(ttl: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return ttl;
    }
    let cut = ttl.mul_f64(jitter * unit());
    ttl.saturating_sub(cut).max(Duration::from_nanos(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_ttls_stay_in_their_range_and_spread_over_it() {
        let ttl = Duration::from_secs(100);
        let ttls: Vec<Duration> = (0..10_000).map(|_| shorten(ttl, 0.2)).collect();
        assert!(
            ttls.iter()
                .all(|t| *t <= ttl && *t >= Duration::from_secs(80))
        );
        let low = ttls
            .iter()
            .filter(|t| **t < Duration::from_secs(90))
            .count();
        // Half below the middle, give or take far more than chance allows.
        assert!((4_000..6_000).contains(&low), "{low} of 10000 below 90 s");
        assert_eq!(shorten(ttl, 0.0), ttl);
    }
}
