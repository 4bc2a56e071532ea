//! The shared tier against a real loopback `redis-server` (started here,
//! killed at the end): an L1 hit with the tier on against the L1-only
//! figure, an L2 hit against a raw GET round trip and against `cached`'s
//! `AsyncRedisCache` on the same server, how long an invalidation
//! takes to clean another replica's memory, and a stampede of three
//! replicas: three tiers in one process, then three OS processes.
//!
//! `cargo bench --bench shared` (needs `redis-server` on the PATH).

#[path = "../../tests/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use memo_runtime::{AsyncCache, SharedCache, SharedTier, cached};
use redis::AsyncCommands;
use redis_server::RedisServer;

const HOT_KEYS: u64 = 1024;
const HITS: u64 = 2_000_000;
const ROUND_TRIPS: usize = 5_000;
const INVALIDATIONS: usize = 1_000;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn row(name: &str, samples: &mut [Duration]) {
    let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
    println!(
        "{name:<44} p50 {:>9.1} us   p99 {:>9.1} us",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
}

async fn tier(server: &RedisServer) -> SharedTier {
    let tier = SharedTier::builder(&server.url())
        .prefix("bench")
        .build()
        .unwrap();
    assert!(tier.wait_available(Duration::from_secs(10)).await);
    tier
}

fn shared(tier: &SharedTier, name: &str) -> SharedCache {
    SharedCache::builder(name, tier.clone())
        .default_ttl(Duration::from_secs(600))
        .max_size(100_000)
        .build()
        .unwrap()
}

async fn l1_hits() {
    let server = RedisServer::start();
    let local = AsyncCache::builder().max_size(100_000).build().unwrap();
    let two_tier = shared(&tier(&server).await, "l1");
    for k in 0..HOT_KEYS {
        local.set(&k, k).await;
        two_tier.set(&k, k).await;
    }
    for (name, run) in [
        ("L1 hit, AsyncCache (no tier)", 0),
        ("L1 hit, SharedCache (tier on)", 1),
    ] {
        let start = Instant::now();
        for i in 0..HITS {
            let key = black_box(i % HOT_KEYS);
            let value = if run == 0 {
                local.get::<_, u64>(&key).await
            } else {
                two_tier.get::<_, u64>(&key).await
            };
            black_box(value);
        }
        let per = start.elapsed().as_secs_f64() * 1e9 / HITS as f64;
        println!("{name:<44} {per:>8.1} ns/call");
    }
}

/// The tier of `shared_fn`, set before its first call.
static TIER: std::sync::OnceLock<SharedTier> = std::sync::OnceLock::new();
static TIER_REF: std::sync::LazyLock<SharedTier> =
    std::sync::LazyLock::new(|| TIER.get().expect("set first").clone());

#[cached(ttl = 600, max_size = 100_000)]
async fn plain_fn(k: u64) -> u64 {
    k
}

#[cached(ttl = 600, max_size = 100_000, shared = TIER_REF)]
async fn shared_fn(k: u64) -> u64 {
    k
}

async fn attribute_hits() {
    let server = RedisServer::start();
    TIER.set(tier(&server).await).ok();
    for k in 0..HOT_KEYS {
        plain_fn(k).await;
        shared_fn(k).await;
    }
    for (name, run) in [
        ("L1 hit, #[cached] (no tier)", 0),
        ("L1 hit, #[cached(shared)] (tier on)", 1),
    ] {
        let start = Instant::now();
        for i in 0..HITS {
            let key = black_box(i % HOT_KEYS);
            let value = if run == 0 {
                plain_fn(key).await
            } else {
                shared_fn(key).await
            };
            black_box(value);
        }
        let per = start.elapsed().as_secs_f64() * 1e9 / HITS as f64;
        println!("{name:<44} {per:>8.1} ns/call");
    }
}

async fn l2_hits_and_raw_gets() {
    let server = RedisServer::start();
    let writer = shared(&tier(&server).await, "l2");
    for k in 0..ROUND_TRIPS as u64 {
        writer.set(&k, k).await;
    }
    let reader = shared(&tier(&server).await, "l2");
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for k in 0..ROUND_TRIPS as u64 {
        let start = Instant::now();
        let value = reader.get::<_, u64>(&k).await;
        samples.push(start.elapsed());
        assert_eq!(value, Some(k));
    }
    row("L2 hit (memory miss, Redis GET + PTTL)", &mut samples);

    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = conn.set("raw", 1u64).await.unwrap();
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let start = Instant::now();
        let value: u64 = conn.get("raw").await.unwrap();
        samples.push(start.elapsed());
        black_box(value);
    }
    row("raw GET, redis-rs multiplexed connection", &mut samples);

    // The peer, built as its docs show, on the same server and values.
    use cached::ConcurrentCachedAsync;
    let peer = cached::AsyncRedisCache::<u64, u64>::builder("l2-peer")
        .ttl(Duration::from_secs(600))
        .connection_string(&server.url())
        .build()
        .await
        .unwrap();
    for k in 0..ROUND_TRIPS as u64 {
        peer.async_cache_set(k, k).await.unwrap();
    }
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for k in 0..ROUND_TRIPS as u64 {
        let start = Instant::now();
        let value = peer.async_cache_get(&k).await.unwrap();
        samples.push(start.elapsed());
        assert_eq!(value, Some(k));
    }
    row("cached::AsyncRedisCache hit (Redis only)", &mut samples);
}

async fn invalidation_latency() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let (a, b) = (shared(&ta, "inv"), shared(&tb, "inv"));
    let mut samples = Vec::with_capacity(INVALIDATIONS);
    for i in 0..INVALIDATIONS as u64 {
        a.set(&i, i).await;
        // Let the set's own invalidation pass, then give b a copy.
        while tb.invalidations_received() < 2 * i + 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(b.get::<_, u64>(&i).await, Some(i));
        let start = Instant::now();
        a.delete(&i).await;
        while !b.is_empty() {
            tokio::task::yield_now().await;
        }
        samples.push(start.elapsed());
    }
    row("delete returned -> other replica's copy gone", &mut samples);
}

async fn stampede() {
    let server = RedisServer::start();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(shared(&tier(&server).await, "stampede"));
    }
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = replicas
        .into_iter()
        .flat_map(|replica| (0..100).map(move |_| replica.clone()))
        .map(|replica| {
            let runs = runs.clone();
            tokio::spawn(async move {
                replica
                    .get_or_insert_with("cold", async {
                        runs.fetch_add(1, SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        1u64
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "{:<44} {} body run(s), {:.1} ms",
        "stampede: 3 tiers x 100 callers, 20 ms body",
        runs.load(SeqCst),
        start.elapsed().as_secs_f64() * 1e3
    );
}

/// Set in the environment of the bench's own children: the server's URL.
const CHILD_URL: &str = "MEMO_BENCH_STAMPEDE_URL";

/// Three OS processes (this binary re-run as children), 100 callers each,
/// on one cold key; they start together when the parent says so in Redis.
async fn process_stampede() {
    let server = RedisServer::start();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(&exe)
                .env(CHILD_URL, server.url())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut conn = server.connection();
    while redis::Commands::get::<_, Option<u32>>(&mut conn, "ready").unwrap() != Some(3) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let start = Instant::now();
    let _: () = redis::Commands::set(&mut conn, "go", 1).unwrap();
    let mut runs = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        runs += String::from_utf8(output.stdout)
            .unwrap()
            .trim()
            .parse::<usize>()
            .unwrap();
    }
    println!(
        "{:<44} {} body run(s), {:.1} ms",
        "stampede: 3 processes x 100 callers, 20 ms",
        runs,
        start.elapsed().as_secs_f64() * 1e3
    );
}

/// A child of `process_stampede`: prints how often its body ran.
async fn stampede_child(url: String) {
    let tier = SharedTier::builder(&url).prefix("bench").build().unwrap();
    assert!(tier.wait_available(Duration::from_secs(10)).await);
    let cache = shared(&tier, "stampede-processes");
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: u32 = conn.incr("ready", 1).await.unwrap();
    while conn.get::<_, Option<u32>>("go").await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move {
                cache
                    .get_or_insert_with("cold", async {
                        runs.fetch_add(1, SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        1u64
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 1);
    }
    println!("{}", runs.load(SeqCst));
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(url) = std::env::var(CHILD_URL) {
        runtime.block_on(stampede_child(url));
        return;
    }
    runtime.block_on(async {
        l1_hits().await;
        attribute_hits().await;
        l2_hits_and_raw_gets().await;
        invalidation_latency().await;
        stampede().await;
        process_stampede().await;
    });
}
