//! `tracing` output (feature `tracing`), all of it off the hit path: a span
//! around each load and background reload (the cache's name and a digest of
//! the key, never the arguments themselves), events for what a cache does
//! besides answering (stale values served, refreshes started and failed,
//! shared-tier errors), and the shared tier's own (its breaker, lost and
//! restored connections). Everything is at target `memo`.
//!
//! Without the feature, each function here is empty or returns its input.

use std::future::Future;

use crate::key::Probe;

/// What the shared tier tells of itself.
#[cfg(feature = "redis")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TierEvent {
    /// Failures in a row opened the breaker: calls skip Redis.
    BreakerOpened,
    /// A probe failed: Redis is unreachable.
    Unreachable,
    /// Redis answers again (the subscription restarts, memory copies are
    /// dropped).
    Reconnected,
    /// The tier is in use again: connected, subscribed, breaker closed.
    Available,
    /// The invalidation subscription was lost and made again (copies in
    /// memory were dropped: invalidations may have been missed).
    Resubscribed,
}

#[cfg(feature = "tracing")]
mod enabled {
    use std::future::Future;

    use sha2::{Digest, Sha256};
    use tracing::Instrument;

    use crate::key::Probe;
    use crate::observe::Event;

    /// The first 8 bytes of the key's SHA-256, in hex: tells keys apart
    /// in a trace without showing them.
    fn digest(probe: &Probe<'_>) -> String {
        let mut hasher = Sha256::new();
        hasher.update(probe.namespace.as_bytes());
        hasher.update([0]);
        hasher.update(probe.id);
        hasher.finalize()[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn span(kind: &'static str, cache: &str, probe: &Probe<'_>) -> tracing::Span {
        let span = tracing::debug_span!(
            target: "memo",
            "memo.load",
            kind,
            cache,
            key = tracing::field::Empty
        );
        if !span.is_disabled() {
            span.record("key", digest(probe));
        }
        span
    }

    pub(crate) fn load<F: Future>(
        kind: &'static str,
        cache: &str,
        probe: &Probe<'_>,
        load: F,
    ) -> tracing::instrument::Instrumented<F> {
        load.instrument(span(kind, cache, probe))
    }

    pub(crate) fn load_blocking<R>(cache: &str, probe: &Probe<'_>, load: impl FnOnce() -> R) -> R {
        span("load", cache, probe).in_scope(load)
    }

    pub(crate) fn cache_event(cache: &str, event: Event) {
        match event {
            Event::StaleServed => tracing::info!(
                target: "memo",
                cache,
                "served a value kept past its TTL (its reload failed)"
            ),
            Event::RefreshStarted => {
                tracing::debug!(target: "memo", cache, "refresh started in the background")
            }
            Event::RefreshFailed => tracing::warn!(
                target: "memo",
                cache,
                "background refresh failed; the old value stays"
            ),
            #[cfg(feature = "redis")]
            Event::SharedError => tracing::debug!(
                target: "memo",
                cache,
                "shared tier: an operation failed or was skipped"
            ),
            _ => {}
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn tier_event(tier: &str, event: super::TierEvent) {
        use super::TierEvent;
        match event {
            TierEvent::BreakerOpened => tracing::warn!(
                target: "memo",
                tier,
                "shared tier: breaker opened after failures in a row; calls use memory only"
            ),
            TierEvent::Unreachable => {
                tracing::warn!(target: "memo", tier, "shared tier: Redis is unreachable")
            }
            TierEvent::Reconnected => tracing::info!(
                target: "memo",
                tier,
                "shared tier: Redis answers again; resubscribing"
            ),
            TierEvent::Available => tracing::info!(
                target: "memo",
                tier,
                "shared tier: available (connected, subscribed, breaker closed)"
            ),
            TierEvent::Resubscribed => tracing::info!(
                target: "memo",
                tier,
                "shared tier: invalidations resubscribed; memory copies dropped"
            ),
        }
    }
}

/// `load` (a loader's future) inside a `memo.load` span of `kind`
/// (`load`, `refresh`, `reload`) for `cache` and the key of `probe`.
#[inline(always)]
pub(crate) fn load<F: Future>(
    kind: &'static str,
    cache: &str,
    probe: &Probe<'_>,
    load: F,
) -> impl Future<Output = F::Output> + use<F> {
    #[cfg(feature = "tracing")]
    return enabled::load(kind, cache, probe, load);
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (kind, cache, probe);
        load
    }
}

/// [`load`] for a plain function's body.
#[inline(always)]
pub(crate) fn load_blocking<R>(cache: &str, probe: &Probe<'_>, load: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tracing")]
    return enabled::load_blocking(cache, probe, load);
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (cache, probe);
        load()
    }
}

/// An event of `cache` worth a trace line (the others are only counted).
#[cfg(feature = "tracing")]
pub(crate) use enabled::cache_event;

/// An event of the shared tier at `tier` (its URL, without a password).
#[cfg(feature = "redis")]
#[inline(always)]
pub(crate) fn tier_event(tier: &str, event: TierEvent) {
    #[cfg(feature = "tracing")]
    enabled::tier_event(tier, event);
    #[cfg(not(feature = "tracing"))]
    let _ = (tier, event);
}
