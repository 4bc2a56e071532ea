//! `refresh`, `timeout` and `expires` on `#[cached(shared = ..)]`
//! functions, against a real `redis-server`: two "replicas" (a tier each,
//! one function each under one name) on the manual clock `Config::clock`
//! sets (its own process: the config is global).

#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use memo_runtime::{Config, Expiry, ManualClock, SharedTier, Source, cached, configure};
use redis::Commands;
use redis_server::RedisServer;
use tokio::sync::Notify;

const PATIENCE: Duration = Duration::from_secs(10);

/// The server's URL, set by the test before any tier is made.
static URL: OnceLock<String> = OnceLock::new();
static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

fn replica() -> SharedTier {
    SharedTier::builder(URL.get().expect("set first"))
        .prefix("attr")
        .build()
        .unwrap()
}

static REPLICA_A: LazyLock<SharedTier> = LazyLock::new(replica);
static REPLICA_B: LazyLock<SharedTier> = LazyLock::new(replica);

static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);
static RATE: AtomicU64 = AtomicU64::new(1);

#[cached(ttl = 60, refresh = 50, shared = REPLICA_A, name = "rate")]
async fn rate(currency: String) -> u64 {
    RATE_RUNS.fetch_add(1, SeqCst);
    drop(currency);
    RATE.load(SeqCst)
}

static RATE_ELSEWHERE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The same function in the other replica: its body must not run.
#[cached(ttl = 60, refresh = 50, shared = REPLICA_B, name = "rate")]
async fn rate_elsewhere(currency: String) -> u64 {
    RATE_ELSEWHERE_RUNS.fetch_add(1, SeqCst);
    drop(currency);
    999
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Token {
    serial: usize,
    expires_in: u64,
}

impl Expiry for Token {
    fn expires_after(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.expires_in))
    }
}

static TOKEN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 3600, expires = true, shared = REPLICA_A, name = "token")]
async fn token(scope: String) -> Result<Token, String> {
    let serial = TOKEN_RUNS.fetch_add(1, SeqCst) + 1;
    drop(scope);
    Ok(Token {
        serial,
        expires_in: 120,
    })
}

static STOCK_RUNS: AtomicUsize = AtomicUsize::new(0);
static STOCK_HELD: AtomicBool = AtomicBool::new(false);
static STOCK_GATE: Notify = Notify::const_new();

#[cached(ttl = 60, stale = 3600, timeout = 0.05, shared = REPLICA_A, name = "stock")]
async fn stock(sku: u32) -> u32 {
    let run = STOCK_RUNS.fetch_add(1, SeqCst) as u32 + 1;
    if STOCK_HELD.load(SeqCst) {
        STOCK_GATE.notified().await;
    }
    sku * 100 + run
}

#[cached(ttl = 60, stale = 3600, shared = REPLICA_B, name = "stock")]
async fn stock_elsewhere(sku: u32) -> u32 {
    sku * 1000
}

async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The one Redis key of the function named `name`.
fn redis_key(server: &RedisServer, name: &str) -> String {
    let keys: Vec<String> = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg(format!("attr:{{{name}}}:[0-9a-f]*"))
        .arg("COUNT")
        .arg(1000)
        .query::<(u64, Vec<String>)>(&mut server.connection())
        .unwrap()
        .1;
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys[0].clone()
}

/// One test, in order: the config is set once, the server and tiers live
/// for the whole process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_timeout_and_expires_work_through_the_shared_tier() {
    let server = RedisServer::start();
    URL.set(server.url()).unwrap();
    configure(Config::default().clock(CLOCK.clone())).expect("first configure");
    assert!(REPLICA_A.wait_available(PATIENCE).await);
    assert!(REPLICA_B.wait_available(PATIENCE).await);

    // refresh: a's refresh publishes its value to b.
    assert_eq!(rate("eur".into()).await, 1);
    assert_eq!(rate_elsewhere("eur".into()).await, 1, "read from Redis");
    CLOCK.advance(Duration::from_secs(50));
    RATE.store(2, SeqCst);
    let heard = REPLICA_B.invalidations_received();
    assert_eq!(rate("eur".into()).await, 1, "due: the old value, at once");
    eventually("b heard of the refresh", || {
        REPLICA_B.invalidations_received() > heard
    })
    .await;
    assert_eq!(
        rate_elsewhere("eur".into()).await,
        2,
        "b reads a's new value"
    );
    assert_eq!(rate("eur".into()).await, 2);
    assert_eq!(
        (RATE_RUNS.load(SeqCst), RATE_ELSEWHERE_RUNS.load(SeqCst)),
        (2, 0)
    );
    assert_eq!(rate::stats().refreshes, 1);

    // expires: Redis keeps the token for its own TTL, not the hour.
    assert_eq!(token("read".into()).await.unwrap().serial, 1);
    let left: i64 = server
        .connection()
        .pttl(redis_key(&server, "token"))
        .unwrap();
    assert!((100_000..=120_000).contains(&left), "{left} ms left");
    CLOCK.advance(Duration::from_secs(120));
    // Gone from memory at 120 s; Redis (on real time) still has it.
    let (value, source) = token::lookup("read".into()).await;
    assert_eq!((value.unwrap().serial, source), (1, Source::Shared));

    // timeout: a's memory copy expired and is kept; the load behind it is
    // held past the soft timeout, so the kept value answers.
    assert_eq!(stock(7).await, 701);
    CLOCK.advance(Duration::from_secs(60));
    // Expired in memory, fresh in Redis (on real time): the load behind
    // the soft timeout reads it there, in time.
    assert_eq!(stock::lookup(7).await, (701, Source::Shared));
    assert_eq!(STOCK_RUNS.load(SeqCst), 1, "no body ran");
    CLOCK.advance(Duration::from_secs(60));
    // Redis, on real time, has it fresh: drop it there, unannounced, so
    // that the load runs the body.
    let _: () = server
        .connection()
        .del(redis_key(&server, "stock"))
        .unwrap();
    STOCK_HELD.store(true, SeqCst);
    let (value, source) = stock::lookup(7).await;
    assert_eq!((value, source), (701, Source::Stale));
    STOCK_HELD.store(false, SeqCst);
    STOCK_GATE.notify_one();
    // Callers get the kept value at once until the load lands, in Redis
    // (b reads it there) and in a's memory.
    let started = Instant::now();
    while stock_elsewhere(7).await != 702 || stock(7).await != 702 {
        assert!(started.elapsed() < PATIENCE, "the load never landed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(STOCK_RUNS.load(SeqCst), 2, "one load, run detached");
    assert_eq!(stock::stats().refreshes, 1, "it outlived the soft timeout");
}
