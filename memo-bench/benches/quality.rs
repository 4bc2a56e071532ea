//! The workloads that are not a time per call (see BENCHMARKS.md):
//! `cargo bench --bench quality`.
//!
//! 5. stampede: 1,000 concurrent callers of one cold key whose body sleeps
//!    20 ms: how many times the body ran, and the wall time;
//! 6. memory: heap bytes per entry of a 1,000,000-entry `u64 -> u64` cache;
//! 7. hit ratio on a Zipf (s = 0.9) key stream, capacity 1% of the key space;
//!    7b. the same stream with scans of keys that never come again.
//!
//! Prints one table per workload; every number is measured in this run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use memo_runtime::{AsyncCache, Eviction};

// ---- Heap accounting for workload 6. ---------------------------------------

/// The system allocator, counting live heap bytes.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Relaxed)
}

// ---- Workload 5: stampede. -------------------------------------------------

const STAMPEDE_CALLERS: usize = 1000;
const STAMPEDE_BODY: Duration = Duration::from_millis(20);

static MEMO_RUNS: AtomicUsize = AtomicUsize::new(0);
static CACHED_RUNS: AtomicUsize = AtomicUsize::new(0);
static CONCURRENT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memo_runtime::cached]
async fn memo_cold(k: u64) -> u64 {
    MEMO_RUNS.fetch_add(1, Relaxed);
    tokio::time::sleep(STAMPEDE_BODY).await;
    k
}

#[cached::proc_macro::cached]
async fn cached_cold(k: u64) -> u64 {
    CACHED_RUNS.fetch_add(1, Relaxed);
    tokio::time::sleep(STAMPEDE_BODY).await;
    k
}

#[cached::proc_macro::concurrent_cached]
async fn concurrent_cold(k: u64) -> u64 {
    CONCURRENT_RUNS.fetch_add(1, Relaxed);
    tokio::time::sleep(STAMPEDE_BODY).await;
    k
}

/// Runs `STAMPEDE_CALLERS` concurrent calls; returns the wall time.
async fn stampede<F, Fut>(call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let start = Instant::now();
    let calls: Vec<_> = (0..STAMPEDE_CALLERS)
        .map(|_| tokio::spawn(call()))
        .collect();
    for call in calls {
        call.await.expect("stampede call");
    }
    start.elapsed()
}

async fn workload_5() {
    println!("\n5. stampede: {STAMPEDE_CALLERS} concurrent callers, one cold key, body 20 ms");
    println!("{:<20} {:>10} {:>12}", "system", "body runs", "wall time");
    let wall = stampede(|| memo_cold(1)).await;
    row5("memo", MEMO_RUNS.load(Relaxed), wall);
    let wall = stampede(|| cached_cold(1)).await;
    row5("cached", CACHED_RUNS.load(Relaxed), wall);
    let wall = stampede(|| concurrent_cold(1)).await;
    row5("cached_concurrent", CONCURRENT_RUNS.load(Relaxed), wall);

    let runs = Arc::new(AtomicUsize::new(0));
    let moka: Arc<moka::future::Cache<u64, u64>> = Arc::new(moka::future::Cache::new(1000));
    let wall = stampede(|| {
        let (moka, runs) = (moka.clone(), runs.clone());
        async move {
            moka.get_with(1, async {
                runs.fetch_add(1, Relaxed);
                tokio::time::sleep(STAMPEDE_BODY).await;
                1
            })
            .await
        }
    })
    .await;
    row5("moka", runs.load(Relaxed), wall);

    let runs = Arc::new(AtomicUsize::new(0));
    let quick: Arc<quick_cache::sync::Cache<u64, u64>> =
        Arc::new(quick_cache::sync::Cache::new(1000));
    let wall = stampede(|| {
        let (quick, runs) = (quick.clone(), runs.clone());
        async move {
            quick
                .get_or_insert_async(&1, async {
                    runs.fetch_add(1, Relaxed);
                    tokio::time::sleep(STAMPEDE_BODY).await;
                    Ok::<_, ()>(1)
                })
                .await
                .unwrap_or_default()
        }
    })
    .await;
    row5("quick_cache", runs.load(Relaxed), wall);
}

fn row5(name: &str, runs: usize, wall: Duration) {
    println!("{name:<20} {runs:>10} {:>12.1?}", wall);
}

// ---- Workload 6: memory. ---------------------------------------------------

const ENTRIES: u64 = 1_000_000;

/// Heap bytes `fill` leaves behind, per entry the cache holds. `fill`
/// returns the cache, so that it is still alive when measured, and how many
/// entries it holds: a cache whose shards each keep a share of the bound
/// (memo, quick_cache) may have evicted a few of the `ENTRIES` it was given.
fn bytes_per_entry<T>(fill: impl FnOnce() -> (T, usize)) -> f64 {
    let before = live_bytes();
    let (cache, held) = fill();
    let used = live_bytes() - before;
    drop(cache);
    assert!(held as u64 >= ENTRIES * 99 / 100, "held only {held}");
    used as f64 / held as f64
}

async fn workload_6() {
    println!("\n6. memory: heap bytes per entry, {ENTRIES} u64 -> u64 entries");
    println!("{:<20} {:>14}", "system", "bytes/entry");
    for (name, eviction) in [
        ("memo (fifo)", Eviction::Fifo),
        ("memo (s3-fifo)", Eviction::S3Fifo),
    ] {
        let before = live_bytes();
        let cache = AsyncCache::builder()
            .max_size(ENTRIES as usize)
            .eviction(eviction)
            .build()
            .expect("settings");
        for k in 0..ENTRIES {
            cache.set(&k, k).await;
        }
        let held = cache.len();
        assert!(held as u64 >= ENTRIES * 99 / 100, "held only {held}");
        let used = live_bytes() - before;
        drop(cache);
        println!("{name:<20} {:>14.1}", used as f64 / held as f64);
    }

    let before = live_bytes();
    let moka: moka::future::Cache<u64, u64> = moka::future::Cache::new(ENTRIES);
    for k in 0..ENTRIES {
        moka.insert(k, k).await;
    }
    moka.run_pending_tasks().await;
    let held = moka.entry_count();
    let used = live_bytes() - before;
    drop(moka);
    println!("{:<20} {:>14.1}", "moka", used as f64 / held as f64);

    let quick = bytes_per_entry(|| {
        let cache: quick_cache::sync::Cache<u64, u64> =
            quick_cache::sync::Cache::new(ENTRIES as usize);
        for k in 0..ENTRIES {
            cache.insert(k, k);
        }
        let held = cache.len();
        (cache, held)
    });
    println!("{:<20} {:>14.1}", "quick_cache", quick);

    let cached = bytes_per_entry(|| {
        use cached::Cached;
        let mut cache = cached::LruCache::new(ENTRIES as usize);
        for k in 0..ENTRIES {
            cache.cache_set(k, k);
        }
        let held = cache.cache_size();
        (cache, held)
    });
    println!("{:<20} {:>14.1}", "cached (LruCache)", cached);
}

// ---- Workload 7: hit ratio on a Zipf stream. --------------------------------

const KEY_SPACE: usize = 100_000;
const CAPACITY: usize = KEY_SPACE / 100;
const REQUESTS: usize = 2_000_000;
const ZIPF_S: f64 = 0.9;

/// A deterministic stream of keys drawn from Zipf(s) over `KEY_SPACE` ranks,
/// each rank scattered to an unrelated key.
fn zipf_stream() -> Vec<u64> {
    let mut cdf = Vec::with_capacity(KEY_SPACE);
    let mut total = 0.0;
    for rank in 1..=KEY_SPACE {
        total += 1.0 / (rank as f64).powf(ZIPF_S);
        cdf.push(total);
    }
    let mut state = 0x5EED_u64;
    (0..REQUESTS)
        .map(|_| {
            let u = splitmix(&mut state) as f64 / u64::MAX as f64 * total;
            let rank = cdf.partition_point(|&c| c < u) as u64;
            let mut scatter = rank;
            splitmix(&mut scatter)
        })
        .collect()
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The Zipf stream with scans: every fifth run of 10,000 requests reads
/// keys that never come again (a batch job, a crawler), the rest is the
/// Zipf stream. A policy that lets a scan flush the hot keys loses here.
fn scan_stream() -> Vec<u64> {
    let hot = zipf_stream();
    (0..REQUESTS)
        .map(|i| {
            if (i / SCAN_RUN) % 5 == 4 {
                // Above every scattered rank: never a hot key.
                u64::MAX - i as u64
            } else {
                hot[i]
            }
        })
        .collect()
}

const SCAN_RUN: usize = 10_000;

async fn workload_7() {
    println!(
        "\n7. hit ratio: Zipf s = {ZIPF_S}, {KEY_SPACE} keys, capacity {CAPACITY}, {REQUESTS} requests"
    );
    hit_ratios(&zipf_stream()).await;
    println!(
        "\n7b. hit ratio: the same Zipf stream with scans (every fifth run of {SCAN_RUN} \
         requests reads keys never seen again)"
    );
    hit_ratios(&scan_stream()).await;
}

async fn hit_ratios(stream: &[u64]) {
    println!("{:<20} {:>10}", "system", "hit ratio");
    for (name, eviction) in [
        ("memo (fifo)", Eviction::Fifo),
        ("memo (s3-fifo)", Eviction::S3Fifo),
    ] {
        let cache = AsyncCache::builder()
            .max_size(CAPACITY)
            .eviction(eviction)
            .build()
            .expect("settings");
        let mut misses = 0;
        for &k in stream {
            cache
                .get_or_insert_with(&k, async {
                    misses += 1;
                    k
                })
                .await;
        }
        row7(name, misses);
    }

    let moka: moka::future::Cache<u64, u64> = moka::future::Cache::new(CAPACITY as u64);
    let mut misses = 0;
    for &k in stream {
        moka.get_with(k, async {
            misses += 1;
            k
        })
        .await;
    }
    row7("moka", misses);

    let quick: quick_cache::sync::Cache<u64, u64> = quick_cache::sync::Cache::new(CAPACITY);
    let mut misses = 0;
    for &k in stream {
        let _ = quick
            .get_or_insert_async(&k, async {
                misses += 1;
                Ok::<_, ()>(k)
            })
            .await;
    }
    row7("quick_cache", misses);
}

fn row7(name: &str, misses: usize) {
    let ratio = 1.0 - misses as f64 / REQUESTS as f64;
    println!("{name:<20} {:>9.2}%", ratio * 100.0);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and only
    // checks that this builds and starts.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        workload_5().await;
        workload_6().await;
        workload_7().await;
    });
}
