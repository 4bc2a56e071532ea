//! Time per call of memo and its peers on the same workloads (see
//! BENCHMARKS.md): `cargo bench -p memo-bench --bench hits`.
//!
//! 1. hits, one `u64` argument, 1,024 hot keys, one task;
//! 2. hits, `(String, Vec<String>)` arguments (four short tags), one task;
//! 3. contended hits: 2 worker threads, 8 tasks over the same hot keys;
//!    3b. the same, every call the same key;
//!    3c. the same hot keys, with one call in 100 a new key (a miss that
//!    stores and, once the cache is full, evicts): how a shard's lock
//!    fares when it is written now and then;
//! 4. miss churn: a cache bounded at 1,000, every call a new key.
//!
//! Each peer is used as its docs recommend: `cached`'s `#[cached]` and
//! `#[concurrent_cached]` (async), moka's `future::Cache::get_with`,
//! quick_cache's `sync::Cache::get_or_insert_async`. Every cache is large
//! enough for the hot keys, and warmed before it is measured.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use tokio::runtime::Runtime;

const HOT_KEYS: u64 = 1024;
const CAPACITY: usize = 4096;
const CHURN_CAPACITY: usize = 1000;

// ---- The memoized functions, one per system and workload. -------------------

#[memo_runtime::cached(max_size = 4096)]
async fn memo_u64(k: u64) -> u64 {
    k.wrapping_mul(3)
}

#[cached::proc_macro::cached(max_size = 4096)]
async fn cached_u64(k: u64) -> u64 {
    k.wrapping_mul(3)
}

#[cached::proc_macro::concurrent_cached(max_size = 4096)]
async fn concurrent_u64(k: u64) -> u64 {
    k.wrapping_mul(3)
}

#[memo_runtime::cached(max_size = 4096)]
async fn memo_tags(name: &str, tags: &[String]) -> u64 {
    (name.len() + tags.len()) as u64
}

#[cached::proc_macro::cached(max_size = 4096)]
async fn cached_tags(name: String, tags: Vec<String>) -> u64 {
    (name.len() + tags.len()) as u64
}

#[cached::proc_macro::concurrent_cached(max_size = 4096)]
async fn concurrent_tags(name: String, tags: Vec<String>) -> u64 {
    (name.len() + tags.len()) as u64
}

/// Workload 3c's cache, apart from workload 1's so that its new keys do
/// not evict those.
#[memo_runtime::cached(max_size = 4096)]
async fn memo_mixed(k: u64) -> u64 {
    k.wrapping_mul(3)
}

#[memo_runtime::cached(max_size = 1000)]
async fn memo_churn(k: u64) -> u64 {
    k.wrapping_mul(3)
}

/// The same with FIFO, the policy that does the least on a miss (the
/// default, S3-FIFO, also keeps a probation queue and a ghost).
#[memo_runtime::cached(max_size = 1000, eviction = fifo)]
async fn memo_fifo_churn(k: u64) -> u64 {
    k.wrapping_mul(3)
}

#[cached::proc_macro::cached(max_size = 1000)]
async fn cached_churn(k: u64) -> u64 {
    k.wrapping_mul(3)
}

#[cached::proc_macro::concurrent_cached(max_size = 4096)]
async fn concurrent_mixed(k: u64) -> u64 {
    k.wrapping_mul(3)
}

#[cached::proc_macro::concurrent_cached(max_size = 1000)]
async fn concurrent_churn(k: u64) -> u64 {
    k.wrapping_mul(3)
}

type Moka<K> = moka::future::Cache<K, u64>;
type Quick<K> = quick_cache::sync::Cache<K, u64>;

// ---- Timing loops. --------------------------------------------------------

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn two_workers() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Times `iters` calls of `call(i)` on one task.
fn one_task<F, Fut>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, rt: &Runtime, call: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64>,
{
    // Warm every hot key (and the runtime) before measuring.
    rt.block_on(async {
        for i in 0..HOT_KEYS * 2 {
            black_box(call(i).await);
        }
    });
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(call(black_box(i)).await);
                }
                start.elapsed()
            })
        })
    });
}

/// Times `iters` calls in total, spread over 8 tasks on 2 worker threads.
fn eight_tasks<F, Fut>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: F)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send,
{
    const TASKS: u64 = 8;
    let rt = two_workers();
    let call = Arc::new(call);
    rt.block_on(async {
        for i in 0..HOT_KEYS {
            black_box(call(i).await);
        }
    });
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let per_task = iters.div_ceil(TASKS);
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|task| {
                        let call = Arc::clone(&call);
                        tokio::spawn(async move {
                            for i in 0..per_task {
                                black_box(call(task * 131 + i).await);
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("bench task");
                }
                // Report the time per call of throughput.
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per_task * TASKS) as f64)
            })
        })
    });
}

// ---- Workloads. -----------------------------------------------------------

fn hit_u64(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("1_hit_u64");
    let key = |i: u64| i % HOT_KEYS;
    one_task(&mut group, "memo", &rt, |i| memo_u64(key(i)));
    one_task(&mut group, "cached", &rt, |i| cached_u64(key(i)));
    one_task(&mut group, "cached_concurrent", &rt, |i| async move {
        concurrent_u64(key(i)).await
    });
    let moka: Moka<u64> = Moka::new(CAPACITY as u64);
    one_task(&mut group, "moka", &rt, |i| {
        moka.get_with(key(i), async move { key(i).wrapping_mul(3) })
    });
    let quick: Quick<u64> = Quick::new(CAPACITY);
    let quick = &quick;
    one_task(&mut group, "quick_cache", &rt, |i| {
        let k = key(i);
        async move {
            quick
                .get_or_insert_async(&k, async { Ok::<_, ()>(k.wrapping_mul(3)) })
                .await
                .unwrap_or_default()
        }
    });
    group.finish();
}

/// 1,024 distinct `(name, four tags)` arguments.
fn tag_args() -> Vec<(String, Vec<String>)> {
    (0..HOT_KEYS)
        .map(|i| {
            let tags = (0..4).map(|t| format!("tag-{}", (i + t) % 97)).collect();
            (format!("user-{i}"), tags)
        })
        .collect()
}

fn hit_tags(c: &mut Criterion) {
    let rt = current_thread();
    let args = tag_args();
    let arg = |i: u64| &args[(i % HOT_KEYS) as usize];
    let mut group = c.benchmark_group("2_hit_string_vec");
    one_task(&mut group, "memo", &rt, |i| {
        let (name, tags) = arg(i);
        memo_tags(name, tags)
    });
    // `#[cached]` keys on owned arguments, so callers pass clones.
    one_task(&mut group, "cached", &rt, |i| {
        let (name, tags) = arg(i).clone();
        cached_tags(name, tags)
    });
    one_task(&mut group, "cached_concurrent", &rt, |i| {
        let (name, tags) = arg(i).clone();
        concurrent_tags(name, tags)
    });
    let moka: Moka<(String, Vec<String>)> = Moka::new(CAPACITY as u64);
    one_task(&mut group, "moka", &rt, |i| {
        let key = arg(i);
        moka.get_with_by_ref(key, async move { (key.0.len() + key.1.len()) as u64 })
    });
    let quick: Quick<(String, Vec<String>)> = Quick::new(CAPACITY);
    let quick = &quick;
    one_task(&mut group, "quick_cache", &rt, |i| {
        let key = arg(i);
        async move {
            quick
                .get_or_insert_async(key, async {
                    Ok::<_, ()>((key.0.len() + key.1.len()) as u64)
                })
                .await
                .unwrap_or_default()
        }
    });
    group.finish();
}

fn contended(c: &mut Criterion) {
    contended_on(c, "3_contended_hits", |i| i % HOT_KEYS);
    // Every task hits one key: the worst case for a shard's lock word.
    contended_on(c, "3b_one_hot_key", |_| 7);
    mixed(c);
}

/// Workload 3c's key of call `i`: a hot key, or one call in 100 a key
/// never asked for before.
fn mixed_key(i: u64) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1 << 50);
    if i % 100 == 99 {
        NEXT.fetch_add(1, Relaxed)
    } else {
        i % HOT_KEYS
    }
}

/// Workload 3c, for memo and the two fastest peers on workload 3.
fn mixed(c: &mut Criterion) {
    let mut group = c.benchmark_group("3c_one_percent_misses");
    eight_tasks(&mut group, "memo", |i| memo_mixed(mixed_key(i)));
    eight_tasks(&mut group, "cached_concurrent", |i| async move {
        concurrent_mixed(mixed_key(i)).await
    });
    let quick: Arc<Quick<u64>> = Arc::new(Quick::new(CAPACITY));
    eight_tasks(&mut group, "quick_cache", move |i| {
        let quick = Arc::clone(&quick);
        async move {
            let k = mixed_key(i);
            quick
                .get_or_insert_async(&k, async { Ok::<_, ()>(k * 3) })
                .await
                .unwrap_or_default()
        }
    });
    group.finish();
}

/// Workload 3 with `key` choosing each call's key.
fn contended_on(c: &mut Criterion, name: &str, key: fn(u64) -> u64) {
    let mut group = c.benchmark_group(name);
    eight_tasks(&mut group, "memo", move |i| memo_u64(key(i)));
    eight_tasks(&mut group, "cached", move |i| cached_u64(key(i)));
    eight_tasks(&mut group, "cached_concurrent", move |i| async move {
        concurrent_u64(key(i)).await
    });
    let moka: Arc<Moka<u64>> = Arc::new(Moka::new(CAPACITY as u64));
    eight_tasks(&mut group, "moka", move |i| {
        let moka = Arc::clone(&moka);
        async move { moka.get_with(key(i), async move { key(i) * 3 }).await }
    });
    let quick: Arc<Quick<u64>> = Arc::new(Quick::new(CAPACITY));
    eight_tasks(&mut group, "quick_cache", move |i| {
        let quick = Arc::clone(&quick);
        async move {
            let k = key(i);
            quick
                .get_or_insert_async(&k, async { Ok::<_, ()>(k * 3) })
                .await
                .unwrap_or_default()
        }
    });
    group.finish();
}

fn miss_churn(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("4_miss_churn");
    // Keys only ever grow, so every call is a miss that stores and evicts.
    static NEXT: AtomicU64 = AtomicU64::new(1 << 40);
    let fresh = || NEXT.fetch_add(1, Relaxed);
    one_task(&mut group, "memo", &rt, |_| memo_churn(fresh()));
    one_task(&mut group, "memo_fifo", &rt, |_| memo_fifo_churn(fresh()));
    one_task(&mut group, "cached", &rt, |_| cached_churn(fresh()));
    one_task(&mut group, "cached_concurrent", &rt, |_| async {
        concurrent_churn(fresh()).await
    });
    let moka: Moka<u64> = Moka::new(CHURN_CAPACITY as u64);
    one_task(&mut group, "moka", &rt, |_| {
        let k = fresh();
        moka.get_with(k, async move { k * 3 })
    });
    let quick: Quick<u64> = Quick::new(CHURN_CAPACITY);
    one_task(&mut group, "quick_cache", &rt, |_| async {
        let k = fresh();
        quick
            .get_or_insert_async(&k, async { Ok::<_, ()>(k * 3) })
            .await
            .unwrap_or_default()
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = hit_u64, hit_tags, contended, miss_churn
}
criterion_main!(benches);
