//! The `#[cached]` attribute of memo. Depend on `memo-runtime`, which
//! re-exports it; this crate is an implementation detail.

mod args;
mod errors;
mod expand;
mod impl_block;
mod invalidate;
mod plan;
mod types;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

/// Memoizes a function (`async fn` or plain `fn`), a method, or the marked
/// methods of an `impl` block: calls with equal arguments within the TTL are
/// answered from a cache instead of running the body again.
///
/// ```
/// use memo_runtime::{cached, invalidate};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct User { id: u64, name: String }
///
/// #[cached(ttl = 60)]
/// async fn fetch_user(user_id: u64) -> Result<User, String> {
///     // A slow API call, in real life.
///     Ok(User { id: user_id, name: format!("user {user_id}") })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let first = fetch_user(1).await;           // runs the body
/// let again = fetch_user(1).await;           // answered from the cache
/// assert_eq!(first, again);
/// assert_eq!(fetch_user::stats().hits, 1);
/// assert!(invalidate!(fetch_user, 1).await); // the next call runs the body again
/// # }
/// ```
///
/// # What it does
///
/// The arguments (all of them, or those `skip` leaves, or the `key`
/// expression) are turned into a canonical [`CacheKey`] through their
/// `serde::Serialize` implementation, in the function's own namespace (its
/// module path and name). A value stored under that key is cloned and returned;
/// otherwise the body runs, once per key however many callers are waiting for
/// it (single flight), and its value is stored for the TTL.
///
/// - The key arguments must implement `Serialize`; `&str`, `String`, slices,
///   maps, sets (in any order), your own `#[derive(Serialize)]` types all work.
/// - The value (or the `T` of `Result<T, E>`) must be `Clone + Send + Sync +
///   'static`. It is cloned out on every hit; return an `Arc` for large values.
/// - A function returning `Result` caches only `Ok` values, unless
///   `cache_err = true`. `Option` results are cached whether `Some` or `None`.
///   Callers that were waiting on a call that returned `Err` each run the body
///   once themselves, at the same time (see
///   `AsyncCache::try_get_or_insert_with`).
/// - A running call that is cancelled or panics hands over to a waiting
///   caller; an `invalidate`/`clear` during a call keeps its value out of the
///   cache (it still goes back to the callers).
/// - If arguments cannot be keyed at run time (their `Serialize` returns an
///   error), the call runs uncached and is counted in `stats().key_errors`.
/// - The returned future is `Send` whenever the body's is, so cached calls can
///   be `tokio::spawn`ed.
/// - A call that waits for its own result (the function calls itself with the
///   same arguments, directly or through other functions) would wait forever;
///   it panics instead, with a message naming the function. Recursion with
///   other arguments is fine.
/// - An `impl Trait` argument is keyed by its concrete type as well as its
///   value (`1u32` and `1u64` are two calls), as explicit generic parameters
///   are.
///
/// # Arguments
///
/// | argument | meaning | default |
/// |---|---|---|
/// | `ttl = 60`, `ttl = 0.25` | seconds an entry lives, integer or float, > 0 | the cache's default TTL (300 s unless [`configure`]d) |
/// | `refresh = 50` | seconds after which a value (still fresh until `ttl`) is returned at once and reloaded in the background, one reload per key; needs owned arguments and `refresh < ttl` (see *Freshness*) | never |
/// | `stale = 3600` | seconds a value is kept past its `ttl`: when a reload fails (an `Err`, or a panic), callers get the kept value instead (see *Freshness*) | the cache's (none unless [`configure`]d) |
/// | `stale_retry = 5` | with `stale`: seconds the kept value is served after a failed reload before the body runs again | the cache's (30 s unless [`configure`]d) |
/// | `timeout = 0.2` | with `stale`: a soft timeout in seconds (real time); a caller waits this long for the reload of an expired key, then gets the kept value while the reload goes on and stores its value when it lands; needs owned arguments | none: callers wait for the reload |
/// | `jitter = 0.2` | each stored TTL is drawn from `[ttl * (1 - jitter), ttl]`, so entries stored together expire apart; in `[0, 1)` | the cache's (none unless [`configure`]d) |
/// | `idle = 600` | time-to-idle: an entry not hit for this many seconds expires; each hit pushes that back, never past `ttl` (cached's `refresh = true`, moka's `time_to_idle`); hits on such entries write the time of the hit | none |
/// | `expires = true` | each value says how long it lives: it implements `memo_runtime::Expiry` (an OAuth token's `expires_in`); `None` from it means `ttl` | `false` |
/// | `max_size = 1000` | most entries this function's cache holds, >= 1 | the global default (1000 unless [`configure`]d) |
/// | `eviction = s3_fifo` | this function's eviction policy: `fifo` or `s3_fifo` (see `Eviction`) | the global default (`s3_fifo` unless [`configure`]d) |
/// | `cache = USERS` | store in a shared `static` that derefs to `AsyncCache` | a cache of the function's own |
/// | `skip(pool, self)` | leave these arguments out of the key | all arguments are key |
/// | `key = expr` | the key is this expression over the arguments | the arguments |
/// | `cache_err = true` | also cache `Err` values (needs `E: Clone`) | `false` |
/// | `cache_none = false` | for `Option` results: return a `None` but do not store it (what the `cached` crate does) | `true`: a stored `None` is a hit |
/// | `shared`, `shared = TIER` | (feature `redis`, `async fn`s) keep results in the shared tier too: the one [`Config::shared_tier`] sets, or a `static` `SharedTier` (or `LazyLock<SharedTier>`); replicas share results, loads and invalidations | memory only |
/// | `name = "price"` | with `shared`: the function's name in the shared tier; functions (and processes) with one name share entries | its module path and name (`_` doubled, braces and non-ASCII bytes as `_xHH`, so that it is printable) |
/// | `version = 2` | with `shared`: entries written under another version are misses (bump it when the value type changes) | `0` |
/// | `crate = path` | where `memo_runtime` is, for crates re-exporting it | `::memo_runtime` |
///
/// ```
/// use std::sync::{Arc, LazyLock};
/// use std::time::Duration;
/// use memo_runtime::{cached, AsyncCache};
///
/// // A cache shared by several functions; each keeps its own keys.
/// static SHARED: LazyLock<AsyncCache> = LazyLock::new(|| {
///     AsyncCache::builder().default_ttl(Duration::from_secs(30)).max_size(10_000).build().unwrap()
/// });
///
/// struct Pool;
///
/// #[cached(ttl = 0.5, max_size = 100, eviction = s3_fifo)]
/// async fn exchange_rate(from: &str, to: &str) -> f64 { 1.08 }
///
/// #[cached(cache = SHARED, skip(pool))]
/// async fn user_name(pool: &Pool, id: u64) -> Option<String> { Some(format!("user {id}")) }
///
/// #[cached(cache = SHARED, key = query.to_lowercase())]
/// async fn search(query: &str) -> Arc<Vec<String>> { Arc::new(vec![query.to_owned()]) }
///
/// #[cached(cache_err = true)]
/// async fn parse_port(text: String) -> Result<u16, String> {
///     text.parse().map_err(|_| format!("not a port: {text}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(exchange_rate("EUR", "USD").await, 1.08);
/// assert_eq!(user_name(&Pool, 7).await.as_deref(), Some("user 7"));
/// assert_eq!(search("Rust").await, search("rust").await);
/// assert!(parse_port("x".into()).await.is_err());
/// assert_eq!(parse_port::stats().inserts, 1); // the `Err` was stored
/// # }
/// ```
///
/// # Freshness
///
/// An entry's life, from the moment its value is stored:
///
/// ```text
///  stored      refresh          ttl (less up to jitter)         ttl + stale
///    |-- fresh --|-- due: a hit --|---------- stale: kept ----------|  gone
///                | one reload in  | a call reloads; if that fails,
///                | the background | the kept value is returned and
///                | per key        | is a hit for `stale_retry`
/// ```
///
/// - **`refresh` (refresh-ahead).** A value older than `refresh` is still
///   returned at once, and one reload of its key starts in the background
///   (on the tokio runtime for an `async fn`, on a thread for a plain `fn`),
///   however many callers find it due; its value replaces the entry when it
///   lands. A hot key is never waited for. A failed reload (an `Err`, a
///   panic, or a `None` with `cache_none = false`) keeps the old value,
///   counts in `stats().refresh_errors`, and the key is not reloaded again
///   for `stale_retry`. The body runs after the call that found the value
///   due has returned, so every argument must be owned (`'static`): a
///   borrowed one, `&self` included, is a compile error, and so is
///   `refresh >= ttl`.
/// - **`stale` (stale-if-error).** Past its TTL a value is no longer a hit,
///   but it is kept `stale` seconds longer. A call that finds it runs the
///   body as usual (one call per key; the others wait for it); if the body
///   returns `Err` or panics, every one of those callers gets the kept value
///   (`Ok(old)` for a `Result` fn), counted in `stats().stale_served`. The
///   kept value is then a hit for `stale_retry` seconds, so that a backend
///   that is down is not called again at once. The window counts from when
///   the value was stored, whatever the number of failed reloads: past `ttl +
///   stale` the failure reaches the caller. A value removed by `invalidate`,
///   `clear` or a delete is not kept. For a plain value only a panic is a
///   failure; for an `Option` with `cache_none = false`, `None` is not one.
/// - **`jitter`.** Values stored together (a warm-up, a burst) would all
///   expire together and reload together; with `jitter = 0.2` each lives a
///   TTL drawn uniformly from the last fifth of `ttl`, never longer.
/// - The cache's clock (a `memo_runtime::ManualClock`
///   in tests) decides all of it.
/// - **`expires = true`.** The value decides its own lifetime through
///   `memo_runtime::Expiry::expires_after` (for a `Result`, the `Ok`
///   value's; for an `Option` with `cache_none = false`, the `Some`'s); a
///   value that says `None` lives the function's `ttl`, one that says zero
///   is returned and not stored. A value without `Expiry` is a compile error
///   at the return type.
/// - **`refresh` companion.** `f::refresh(args)` runs the body now and
///   stores its value as a call would (cached's `force_refresh`,
///   `prime_cache`): the entry expires first (kept for what is left of a
///   `stale` window as a fallback) and loads of it in flight are not stored
///   after it.
/// - **`idle`.** An entry not hit for `idle` seconds expires, however
///   young; hits keep it, up to its `ttl`. With `stale`, an idle entry is
///   kept for the stale window as an expired one is.
/// - **`lookup` companion.** `f::lookup(args)` calls the function (cached
///   as any call) and returns `(value, memo_runtime::Source)`: `Hit`,
///   `Loaded` (this call ran the body), `Waited` (another call's load),
///   `Stale` (a kept value stood in for a failure) or `Shared` (Redis);
///   `cached`'s `with_cached_flag`.
/// - **`timeout` (soft timeout).** With `stale`: when a key has expired but
///   is kept, its reload runs detached (a tokio task for an `async fn`, a
///   thread for a plain `fn`) and the caller waits for it at most
///   `timeout` seconds of real time; then it gets the kept value
///   (`stats().stale_served`), the reload goes on (`stats().refreshes`) and
///   stores its value when it lands. Callers arriving while it runs get the
///   kept value at once. Without a kept value the caller waits for the load
///   as usual. Like `refresh`, it needs owned arguments. An `async fn`'s
///   timer is tokio's: the runtime needs its time driver (`#[tokio::main]`
///   has it).
/// - `refresh` and `timeout` work with `expires = true`: a value reloaded
///   in the background lives what its own `Expiry` says. `refresh` is an
///   age: a value whose own TTL is shorter than `refresh` is never due, it
///   just expires.
/// - **With `shared`**, all of it works across replicas:
///   - `stale`: Redis keeps each value `ttl + stale`, and a replica whose
///     load fails gets the kept value (from its memory, or from Redis).
///   - `refresh`: one replica at a time refreshes a key, the one that takes
///     its Redis lock (the lock loads take). It writes the new value while
///     it holds the lock and publishes a `set`, so every replica drops its
///     older copy and reads the new value from Redis. A replica that finds
///     the lock held keeps serving its copy and looks again after the
///     tier's lock lease. A copy read from Redis is due by the age of the
///     value there (each value in Redis carries the TTL it was written
///     for), so every replica finds a value due at the same age, however
///     late it read it.
///   - `timeout`: the shared load (Redis, the lock, the body) is what runs
///     detached behind the soft timeout; the kept value is the one in this
///     replica's memory (without one, the caller waits for the load).
///   - `expires`: the value's TTL is its TTL in Redis too.
///   - `jitter` spreads the Redis TTLs, and `idle` drops idle copies from
///     memory (Redis keeps the value for its TTL).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
/// use memo_runtime::cached;
///
/// static DOWN: AtomicBool = AtomicBool::new(false);
///
/// #[cached(ttl = 60, refresh = 50, stale = 3600, stale_retry = 5, jitter = 0.1)]
/// async fn exchange_rate(currency: String) -> Result<f64, String> {
///     if DOWN.load(SeqCst) { Err("rates service down".into()) } else { Ok(1.08) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(exchange_rate("USD".into()).await, Ok(1.08));
/// # }
/// ```
///
/// **Results behind an alias.** `Result` is recognised by the return type's
/// last path segment. For `type ApiResult<T> = Result<T, ApiError>`, write
/// `cache_err = false` to say "this is a `Result`, cache only `Ok`" (or
/// `cache_err = true` to cache both); otherwise the whole value is cached,
/// which needs `ApiError: Clone`.
///
/// # Companions
///
/// A free function `fetch_user(user_id: u64)` gets associated functions on a
/// hidden braced struct of the same name (a braced struct takes no name in the
/// value namespace, so it never clashes with the function). Importing the
/// function imports them, and they work for a function declared inside
/// another function's body too:
///
/// | companion | does |
/// |---|---|
/// | `fetch_user::invalidate(user_id).await -> bool` | removes one entry (also [`invalidate!`]`(fetch_user, user_id)`) |
/// | `fetch_user::clear().await` | removes this function's entries only, also in a shared cache |
/// | `fetch_user::cache() -> &'static AsyncCache` | the cache it uses |
/// | `fetch_user::stats() -> CacheStats` | that cache's statistics |
/// | `fetch_user::key(user_id) -> CacheKey` | the key a call would use |
/// | `fetch_user::uncached(user_id).await` | runs the body without the cache |
///
/// Companions take the key arguments (skipped ones left out), with the same
/// types; `uncached` takes all of them. For a plain `fn`, `invalidate`,
/// `clear` and `uncached` are plain functions too: no future to await.
///
/// Every path in the attribute and the signature (`cache = super::USERS`,
/// `key = super::normalize(q)`, `super::models::User`) resolves where you
/// wrote it: the companions are emitted beside the function, not in a module
/// below it.
///
/// # Plain (blocking) functions
///
/// On a `fn` without `async`, the attribute memoizes it with the same keys,
/// TTL, bound, statistics and companions. Single flight blocks: concurrent
/// threads calling with one key run the body once and the others wait for its
/// value; a body that panics hands over to a waiting thread and poisons
/// nothing. A blocking wait inside an async task blocks that task's thread,
/// as any blocking call does. The shared Redis tier, when it comes, serves
/// `async fn`s only; plain functions keep their cache in memory.
///
/// ```
/// use memo_runtime::{cached, invalidate};
///
/// #[cached(ttl = 60, max_size = 100)]
/// fn slow_square(n: u64) -> u64 {
///     n * n // an expensive computation, in real life
/// }
///
/// assert_eq!(slow_square(12), 144);
/// assert_eq!(slow_square(12), 144);
/// assert_eq!(slow_square::stats().hits, 1);
/// assert!(invalidate!(slow_square, 12)); // a `bool`: nothing to await
/// slow_square::clear();
/// ```
///
/// # Methods
///
/// In an inherent `impl` block, `self` is either part of the key (it must be
/// `Serialize`) or skipped with `skip(self)`, which shares one cache among all
/// instances. A method's namespace carries its `Self` type's name
/// (`my_crate::Repo::find`), so generic instantiations and two types with a
/// method of one name never share or clear each other's entries, even in one
/// shared cache. A module cannot sit inside an `impl`, so the companions of a
/// method `find` are associated functions with the same power:
/// `find_invalidate`, `find_clear`, `find_cache`, `find_stats`, `find_key`
/// and `find_uncached`. They take `&self` when `self` is part of the key.
///
/// ```
/// use memo_runtime::{cached, invalidate};
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Region { name: String }
///
/// struct Repo;
///
/// impl Region {
///     #[cached(ttl = 30)]
///     async fn price(&self, sku: u32) -> u32 { sku * 2 }
/// }
///
/// impl Repo {
///     #[cached(skip(self))]
///     async fn find(&self, id: u64) -> Option<String> { Some(format!("#{id}")) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let eu = Region { name: "eu".into() };
/// assert_eq!(eu.price(21).await, 42);
/// assert!(eu.price_invalidate(21).await);
/// eu.price(21).await;
/// assert!(invalidate!(Region::price, &eu, 21).await);
///
/// assert_eq!(Repo.find(7).await.as_deref(), Some("#7"));
/// assert!(Repo::find_invalidate(7).await);
/// Repo::find_clear().await;
/// # }
/// ```
///
/// # `impl` blocks: associated functions without `self`, and trait impls
///
/// The fn-level attribute sees only the function's tokens: an associated
/// function without `self` or `Self` looks exactly like a free function to
/// it, and a trait impl cannot hold the items it generates. For these, put
/// `#[cached]` on the `impl` block as well; it memoizes the methods marked
/// with their own `#[cached(..)]` and leaves the others alone. The companions
/// of a trait impl's methods go into a hidden inherent impl of `Self`, which
/// must therefore be a type of your crate. With `#[async_trait]`, write
/// `#[cached]` first (above it).
///
/// ```
/// use memo_runtime::{cached, invalidate};
///
/// struct Repo;
///
/// #[cached]
/// impl Repo {
///     #[cached(ttl = 60)]
///     async fn load(id: u64) -> String { format!("row {id}") }
/// }
///
/// trait Store {
///     async fn get(&self, id: u64) -> u64;
/// }
///
/// #[cached]
/// impl Store for Repo {
///     #[cached(skip(self))]
///     async fn get(&self, id: u64) -> u64 { id * 10 }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(Repo::load(1).await, "row 1");
/// assert!(Repo::load_invalidate(1).await);
/// assert_eq!(Repo.get(2).await, 20);
/// assert!(invalidate!(Repo::get, 2).await);
/// # }
/// ```
///
/// A trait impl's method namespace names the trait too
/// (`module::<my_crate::Repo as Store>::get`). Two traits implemented for one
/// type, each with a memoized method of the same name, give two companions of
/// one name (`get_invalidate`), which Rust rejects: memoize one of them
/// through an inherent method.
///
/// A function declared inside another function's body is named by its module
/// path, the enclosing function's name and its own (`my_crate::tests::outer::helper`),
/// so helpers of one name in two test functions never share keys, even in one
/// shared `cache = ..`. (Two blocks of one function that declare functions of
/// one name would; Rust gives them one path too.)
///
/// # Compile errors
///
/// Mistakes are reported at the token that causes them, and the function is
/// still emitted unchanged so the rest of the crate keeps compiling: unknown
/// or duplicate arguments, a `ttl` that is not a positive number,
/// `max_size = 0`, an unknown `eviction`, `max_size` or `eviction` with
/// `cache`, `skip` of an argument that does not exist, `&mut` anywhere in an
/// argument's type (`Option<&mut T>`, `(&mut A, u64)`), a return type that
/// borrows from the arguments (`-> &str`; `&'static` is fine), `cache_none`
/// on a function that does not return `Option`, a `const fn`, `#[cached]`
/// below `#[async_trait]`, key arguments that are not `Serialize`, and values
/// that are not `Clone`. A memoized method in a trait impl without
/// `#[cached]` on the impl reports first a constant named
/// `__MEMO_IN_A_TRAIT_IMPL_PUT_CACHED_ON_THE_IMPL_BLOCK_TOO_..`: that is the
/// fix.
///
/// # The code it stands for
///
/// `#[cached(ttl = 60)] async fn fetch_user(user_id: u64) -> Result<User, E> { BODY }`
/// is, without the macro:
///
/// ```
/// # use std::time::Duration;
/// # use std::sync::LazyLock;
/// # use memo_runtime::AsyncCache;
/// # #[derive(Clone)] struct User;
/// # type E = String;
/// async fn fetch_user(user_id: u64) -> Result<User, E> {
///     let key = ("my_crate::fetch_user", user_id);
///     fetch_user::cache()
///         .try_get_or_insert_with(&key, fetch_user_uncached(user_id))
///         .await
/// }
///
/// async fn fetch_user_uncached(user_id: u64) -> Result<User, E> {
///     Ok(User) // BODY
/// }
///
/// #[allow(non_camel_case_types)]
/// struct fetch_user {}
///
/// impl fetch_user {
///     fn cache() -> &'static AsyncCache {
///         static CACHE: LazyLock<AsyncCache> = LazyLock::new(AsyncCache::new);
///         &CACHE
///     }
///     // invalidate, clear, stats, key, uncached ...
/// }
/// ```
///
/// except that the TTL is the attribute's, the namespace is a separate part of
/// the key rather than a tuple element, a hit is answered before any future is
/// built, and all the companions are generated. A plain `fn` stands for the
/// same with a blocking load.
///
/// [`CacheKey`]: https://docs.rs/memo-runtime/latest/memo_runtime/struct.CacheKey.html
/// [`configure`]: https://docs.rs/memo-runtime/latest/memo_runtime/fn.configure.html
/// [`invalidate!`]: https://docs.rs/memo-runtime/latest/memo_runtime/macro.invalidate.html
/// [`Config::shared_tier`]: https://docs.rs/memo-runtime/latest/memo_runtime/struct.Config.html#method.shared_tier
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = TokenStream2::from(item);
    let args = TokenStream2::from(args);
    if let Ok(block) = syn::parse2::<syn::ItemImpl>(item.clone()) {
        return impl_block::memoize_impl(args, block).into();
    }
    match memoize(args, item.clone()) {
        Ok(expanded) => expanded.into(),
        // Emit the function as written beside the errors, so callers and IDEs
        // keep working while the attribute is being fixed.
        Err(errors) => {
            let mut out = item;
            out.extend(errors.into_compile_error());
            out.into()
        }
    }
}

fn memoize(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let function: syn::ItemFn = syn::parse2(item).map_err(|err| {
        syn::Error::new(
            err.span(),
            "#[cached] goes on a function (`fn` or `async fn`) or on an `impl` block",
        )
    })?;
    let mut errors = errors::Errors::default();
    let args = args::Args::parse(args).unwrap_or_else(|err| {
        errors.push(err);
        args::Args::default()
    });
    let plan = plan::plan(&function, &args, None);
    match plan {
        Ok(plan) => errors.into_result().map(|()| {
            let expand::Expansion { wrapper, beside } = expand::expand(&function, &plan);
            quote!(#wrapper #beside)
        }),
        Err(err) => {
            errors.push(err);
            errors.into_result().map(|()| TokenStream2::new())
        }
    }
}

/// Removes the cached result of one call of a memoized function or method.
/// Re-exported as `memo_runtime::invalidate!`; see its documentation.
#[proc_macro]
pub fn invalidate(input: TokenStream) -> TokenStream {
    match syn::parse::<invalidate::Invalidate>(input) {
        Ok(call) => call.expand().into(),
        Err(err) => err.into_compile_error().into(),
    }
}
