//! Where a memoized call's value came from, for the `lookup` companion
//! (`f::lookup(args) -> (V, Source)`, what `cached` calls
//! `with_cached_flag`).
//!
//! The miss path reports its source in a thread-local as it returns; the
//! companion resets it to `Hit` before calling the function and reads it
//! after. A call's last step runs inside the companion's own poll, on its
//! thread, so what it reads is that call's; and the hit path, which reports
//! nothing, stays as it is.

use std::cell::Cell;

/// Where the value of one call came from (see the `lookup` companion of
/// [`cached`](crate::cached)).
///
/// ```
/// use memo_runtime::{cached, Source};
///
/// #[cached]
/// fn double(n: u32) -> u32 {
///     n * 2
/// }
///
/// assert_eq!(double::lookup(4), (8, Source::Loaded));
/// assert_eq!(double::lookup(4), (8, Source::Hit));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// From memory: stored before, or stored by a load that ended just
    /// before this call looked.
    Hit,
    /// This call ran the body.
    Loaded,
    /// Another call's load of the same key, which this one waited for
    /// (single flight).
    Waited,
    /// A value kept past its TTL (`stale`), because the reload failed.
    Stale,
    /// The shared tier (Redis): a value another replica stored, or loaded
    /// while this one waited for it.
    Shared,
}

thread_local! {
    static REPORTED: Cell<Source> = const { Cell::new(Source::Hit) };
}

/// Records where the value of the call returning now came from.
#[inline]
pub(crate) fn report(source: Source) {
    REPORTED.set(source);
}

/// What was reported on this thread since [`reset`].
pub(crate) fn reported() -> Source {
    REPORTED.get()
}

/// Before a call: nothing reported means a hit.
pub(crate) fn reset() {
    REPORTED.set(Source::Hit);
}
