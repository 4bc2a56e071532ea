//! Memoize functions, async or not.
//!
//! Put [`#[cached]`](cached) on an `async fn` (or a plain `fn`, a method, an
//! `impl` block) and repeated calls with equal arguments are answered from
//! memory instead of running the body again:
//!
//! ```
//! use memo_runtime::cached;
//!
//! #[cached(ttl = 60)]
//! async fn square(n: u64) -> u64 {
//!     n * n // a slow API call or database query, in real life
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! assert_eq!(square(12).await, 144); // runs the body
//! assert_eq!(square(12).await, 144); // answered from the cache
//! assert_eq!(square::stats().hits, 1);
//! # }
//! ```
//!
//! The pieces:
//!
//! - [`AsyncCache`]: the cache itself (TTL, size bound, single-flight loads,
//!   statistics), usable directly and shareable between functions.
//! - [`CacheKey`]: canonical keys built from arguments through serde, nested
//!   at most [`KEY_MAX_DEPTH`] levels; [`KeyAsSet`] keys a collection of your
//!   own as an unordered set.
//! - [`Eviction`]: what leaves a full cache, plain FIFO or S3-FIFO.
//! - [`configure`] and [`Config`]: process-wide defaults, set once at startup.
//! - [`ManualClock`]: a clock tests advance, so that expiry needs no sleep.
//! - [`cached`] and [`invalidate!`]: the attribute and its companion macro.
//! - [`caches`] and [`report`]: every named cache of the process, with its
//!   size and statistics, for a debug endpoint.
//!
//! Crate features, all off by default:
//!
//! - `redis`: the shared tier, `SharedTier` and `SharedCache`: replicas of a
//!   service share results, loads and invalidations through Redis.
//! - `redis-tls`: `rediss://` URLs for it (rustls; certificates checked).
//! - `tracing`: a `memo.load` span around each load (the cache's name and a
//!   digest of the key, never the arguments) and events for stale values,
//!   background refreshes and the shared tier's outages, at target `memo`.
//!   Nothing on the hit path.
//! - `metrics`: `publish_metrics()` hands every cache's counters and sizes
//!   to the `metrics` facade (Prometheus, OpenTelemetry...), labelled by
//!   cache; read from the counters the caches keep anyway.
#![deny(missing_docs)]
// docs.rs marks the items each feature brings.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod config;
mod flight;
mod freshness;
mod key;
mod local;
mod observe;
#[cfg(feature = "redis")]
mod shared;
mod threads;

#[doc(hidden)]
pub mod __private;

pub use cache::{AsyncCache, AsyncCacheBuilder};
pub use config::{Config, ConfigError, DEFAULT_MAX_SIZE, DEFAULT_TTL, configure, current_config};
pub use freshness::{DEFAULT_STALE_RETRY, Expiry, ManualClock};
pub use key::{CacheKey, KEY_MAX_DEPTH, KeyAsSet, KeyError};
pub use local::policy::Eviction;
pub use observe::{CacheInfo, CacheStats, Source, caches, report};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use observe::{publish_metrics, publish_metrics_every};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use shared::{
    DEFAULT_LOCK_LEASE, DEFAULT_MAX_VALUE_BYTES, DEFAULT_TIMEOUT, SharedCache, SharedCacheBuilder,
    SharedTier, SharedTierBuilder, SharedTierError, SharedValue,
};

#[doc(inline)]
pub use memo_macros::cached;

/// Removes the cached result of one call of a memoized function or method;
/// evaluates to what its `invalidate` companion returns: for an `async fn` a
/// future of `bool`, for a plain `fn` a `bool`; true if an entry was removed.
///
/// It takes the function's path, then its key arguments (those not skipped),
/// in order; for a method keyed on `self`, the receiver comes first:
///
/// | call | is |
/// |---|---|
/// | `invalidate!(fetch_user, 1)` | `fetch_user::invalidate(1)` |
/// | `invalidate!(users::fetch_user, 1)` | the same, through a module path |
/// | `invalidate!(Repo::load, 1)` | `Repo::load_invalidate(1)` |
/// | `invalidate!(Repo::find, &repo, 1)` | `repo.find_invalidate(1)` |
///
/// ```
/// use memo_runtime::{cached, invalidate};
///
/// #[cached]
/// async fn double(n: u32) -> u32 {
///     n * 2
/// }
///
/// #[cached]
/// fn triple(n: u32) -> u32 {
///     n * 3
/// }
///
/// mod prices {
///     #[memo_runtime::cached]
///     pub async fn price(sku: u32) -> u32 { sku * 10 }
/// }
///
/// struct Repo;
///
/// impl Repo {
///     #[cached(skip(self))]
///     async fn find(&self, id: u64) -> String { format!("#{id}") }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// double(4).await;
/// assert!(invalidate!(double, 4).await);
/// assert!(!invalidate!(double, 4).await);
///
/// triple(2);
/// assert!(invalidate!(triple, 2)); // a plain `fn`: a `bool`, no future
///
/// prices::price(3).await;
/// assert!(invalidate!(prices::price, 3).await);
///
/// Repo.find(7).await;
/// assert!(invalidate!(Repo::find, 7).await);
/// # }
/// ```
pub use memo_macros::invalidate;
