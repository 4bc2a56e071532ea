//! Who decides how long a loaded value lives: the function's settings
//! ([`SiteTtl`]), or, with `#[cached(expires = true)]`, the value itself
//! through [`Expiry`](crate::Expiry) ([`ValueTtl`]). The generated code
//! passes one of the two to the `memoize` functions.

use std::time::Duration;

use crate::Expiry;
use crate::freshness::Lifespan;

/// How a loaded `V`'s TTL is chosen.
pub trait Lifetime<V>: Copy {
    /// The value's own TTL, or `None` for the function's.
    fn ttl_of(self) -> fn(&V) -> Option<Duration>;
}

/// The function's `ttl` (else the cache's): the value has no say.
#[derive(Clone, Copy)]
pub struct SiteTtl;

impl<V> Lifetime<V> for SiteTtl {
    #[inline(always)]
    fn ttl_of(self) -> fn(&V) -> Option<Duration> {
        |_| None
    }
}

/// `expires = true`: the value's [`Expiry::expires_after`].
#[derive(Clone, Copy)]
pub struct ValueTtl;

impl<V: Expiry> Lifetime<V> for ValueTtl {
    #[inline(always)]
    fn ttl_of(self) -> fn(&V) -> Option<Duration> {
        |value| value.expires_after()
    }
}

/// The lifespan the miss path gives a value `lifetime` decides on; owned,
/// so that a background reload can carry it.
#[inline(always)]
pub(crate) fn lifespan_of<V: 'static>(
    lifetime: impl Lifetime<V>,
) -> impl Fn(&V) -> Lifespan + Copy + Send + Sync + 'static {
    let ttl_of = lifetime.ttl_of();
    move |value| Lifespan::from(ttl_of(value))
}
