//! `#[cached(shared)]`: memoized async fns whose results and invalidations
//! are shared through the tier `Config::shared_tier` sets (its own process:
//! the config is global), and `shared = TIER` for a tier of one's own.

#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use memo_runtime::{Config, SharedCache, SharedTier, cached, configure, invalidate};
use redis_server::RedisServer;

/// The server's URL, set by the test before any tier is made (the server
/// itself belongs to the test, so that it is killed when the test ends).
static URL: OnceLock<String> = OnceLock::new();

/// Another replica's view: a tier of its own on the same server.
static OTHER_REPLICA: LazyLock<SharedTier> = LazyLock::new(|| {
    SharedTier::builder(URL.get().expect("set first"))
        .build()
        .unwrap()
});

static PRICE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, shared, name = "price", version = 2)]
async fn price(sku: u32) -> u64 {
    PRICE_RUNS.fetch_add(1, SeqCst);
    u64::from(sku) * 10
}

/// The same function in "another replica": same name, version and key
/// types, another tier. Its body must never run for a key `price` loaded.
#[cached(ttl = 60, shared = OTHER_REPLICA, name = "price", version = 2)]
async fn price_elsewhere(sku: u32) -> u64 {
    u64::from(sku) * 1000
}

static USER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, shared = OTHER_REPLICA)]
async fn user(id: u64) -> Result<String, String> {
    USER_RUNS.fetch_add(1, SeqCst);
    if id == 0 {
        Err("no user 0".into())
    } else {
        Ok(format!("user {id}"))
    }
}

/// One test, in order: the config is set once, the server and tiers live
/// for the whole process.
#[tokio::test]
async fn shared_functions_share_results_and_invalidations_through_redis() {
    let server = RedisServer::start();
    URL.set(server.url()).unwrap();
    let tier = SharedTier::builder(&server.url()).build().unwrap();
    configure(Config::default().shared_tier(tier.clone())).expect("first configure");
    assert!(tier.wait_available(Duration::from_secs(10)).await);
    assert!(OTHER_REPLICA.wait_available(Duration::from_secs(10)).await);

    // A call stores its value in Redis under the function's name and
    // version: another replica's cache of that name and version reads it.
    assert_eq!(price(3).await, 30);
    assert_eq!(price(3).await, 30);
    assert_eq!(PRICE_RUNS.load(SeqCst), 1);
    assert_eq!(price::stats().hits, 1);
    assert_eq!(
        price_elsewhere(3).await,
        30,
        "answered by Redis, not its body"
    );
    assert_eq!(price_elsewhere::stats().shared_hits, 1);
    // Another version of the name is another value.
    let v1 = SharedCache::builder("price", OTHER_REPLICA.clone())
        .version(1)
        .build()
        .unwrap();
    assert_eq!(v1.len(), 0);

    // The companions reach Redis: after an invalidation the next call
    // runs the body again, even though another replica had loaded it.
    assert!(invalidate!(price, 3).await);
    assert_eq!(price(3).await, 30);
    assert_eq!(PRICE_RUNS.load(SeqCst), 2);
    // Give the other replica a copy again, once the invalidation of the
    // delete above has reached it (so that it cannot be what empties it).
    let settled = std::time::Instant::now();
    while OTHER_REPLICA.invalidations_received() < 1 {
        assert!(settled.elapsed() < Duration::from_secs(10));
        tokio::task::yield_now().await;
    }
    assert_eq!(price_elsewhere(3).await, 30);
    assert_eq!(price_elsewhere::cache().len(), 1);
    let elsewhere_before = OTHER_REPLICA.invalidations_received();
    price::clear().await;
    let waiting = std::time::Instant::now();
    while OTHER_REPLICA.invalidations_received() == elsewhere_before {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the clear never arrived"
        );
        tokio::task::yield_now().await;
    }
    assert!(
        price_elsewhere::cache().is_empty(),
        "the clear reached the other replica"
    );
    assert_eq!(
        price_elsewhere(3).await,
        3000,
        "and Redis: its own body ran"
    );
    assert!(price::cache().is_empty());

    // `shared = TIER`: only `Ok` is stored; an `Err` runs every time.
    assert!(user(0).await.is_err());
    assert!(user(0).await.is_err());
    assert_eq!(USER_RUNS.load(SeqCst), 2);
    assert_eq!(user(7).await.as_deref(), Ok("user 7"));
    price::cache().clear().await;
    user::cache().clear().await; // memory only: Redis still has it
    assert_eq!(user(7).await.as_deref(), Ok("user 7"));
    assert_eq!(
        USER_RUNS.load(SeqCst),
        3,
        "the second call was answered by Redis"
    );
    assert_eq!(user::stats().shared_hits, 1);

    // Methods: the companions are associated functions, as in memory.
    let shop = Shop { region: "eu" };
    assert_eq!(shop.stock(5).await, 7);
    assert_eq!(
        Shop { region: "us-east" }.stock(5).await,
        7,
        "self is skipped"
    );
    assert_eq!(SHOP_RUNS.load(SeqCst), 1);
    Shop::stock_cache().clear().await; // memory only
    assert_eq!(shop.stock(5).await, 7);
    assert_eq!(SHOP_RUNS.load(SeqCst), 1, "answered by Redis");
    assert!(invalidate!(Shop::stock, 5).await);
    assert_eq!(shop.stock(5).await, 7);
    assert_eq!(SHOP_RUNS.load(SeqCst), 2, "the invalidation reached Redis");

    // A generic impl: each `Self` type keeps its own entries.
    let (a, b) = (Repo::<u8>::kind(1).await, Repo::<u16>::kind(1).await);
    assert_eq!(a, "u8#1");
    assert_eq!(b, "u16#1");
    assert!(!std::ptr::eq(
        Repo::<u8>::kind_cache(),
        Repo::<u16>::kind_cache()
    ));

    // cache_none = false: `None` runs every time, `Some` is shared.
    assert_eq!(find(0).await, None);
    assert_eq!(find(0).await, None);
    assert_eq!(FIND_RUNS.load(SeqCst), 2);
    assert_eq!(find(4).await, Some(4));
    find::cache().clear().await; // memory only
    assert_eq!(find(4).await, Some(4));
    assert_eq!(FIND_RUNS.load(SeqCst), 3, "the Some came back from Redis");
    assert_eq!(find::stats().shared_hits, 1);

    // The `refresh` companion runs the body and writes through to Redis,
    // replacing what another replica had stored there.
    assert_eq!(
        price_elsewhere(8).await,
        8000,
        "its own body: Redis had nothing"
    );
    let runs = PRICE_RUNS.load(SeqCst);
    assert_eq!(price::refresh(8).await, 80);
    assert_eq!(PRICE_RUNS.load(SeqCst), runs + 1);
    price_elsewhere::cache().clear().await; // memory only
    assert_eq!(
        price_elsewhere::lookup(8).await,
        (80, memo_runtime::Source::Shared),
        "the refreshed value, from Redis"
    );
    assert_eq!(
        price_elsewhere::lookup(8).await,
        (80, memo_runtime::Source::Hit)
    );

    // `stale` with `shared`: Redis keeps the value past its TTL, and a
    // replica whose load fails gets it.
    assert_eq!(quote(1).await, Ok(100));
    let started = std::time::Instant::now();
    loop {
        quote::cache().clear().await; // memory only: ask Redis each time
        QUOTE_DOWN.store(true, SeqCst);
        let (value, source) = quote::lookup(1).await;
        QUOTE_DOWN.store(false, SeqCst);
        if source == memo_runtime::Source::Stale {
            assert_eq!(value, Ok(100), "the value Redis kept");
            break;
        }
        // Still fresh in Redis: a plain shared hit.
        assert_eq!((value, source), (Ok(100), memo_runtime::Source::Shared));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never went stale"
        );
        tokio::task::yield_now().await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "stale before its TTL"
    );
}

static QUOTE_DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cached(ttl = 0.2, stale = 60, shared = OTHER_REPLICA)]
async fn quote(id: u32) -> Result<u32, String> {
    if QUOTE_DOWN.load(SeqCst) {
        Err("quotes down".into())
    } else {
        Ok(id * 100)
    }
}

struct Shop {
    region: &'static str,
}

static SHOP_RUNS: AtomicUsize = AtomicUsize::new(0);

impl Shop {
    /// A method keyed on its arguments only, shared through the tier.
    #[cached(ttl = 60, shared = OTHER_REPLICA, skip(self))]
    async fn stock(&self, sku: u32) -> u32 {
        SHOP_RUNS.fetch_add(1, SeqCst);
        sku + self.region.len() as u32
    }
}

/// Generic impls get one shared cache per `Self` type.
struct Repo<T>(std::marker::PhantomData<T>);

#[cached]
impl<T: 'static> Repo<T> {
    #[cached(ttl = 60, shared = OTHER_REPLICA)]
    async fn kind(id: u32) -> String {
        format!("{}#{id}", std::any::type_name::<T>())
    }
}

static FIND_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `cache_none = false`: a `None` is returned but stored in neither tier.
#[cached(ttl = 60, shared = OTHER_REPLICA, cache_none = false)]
async fn find(id: u32) -> Option<u32> {
    FIND_RUNS.fetch_add(1, SeqCst);
    (id > 0).then_some(id)
}
