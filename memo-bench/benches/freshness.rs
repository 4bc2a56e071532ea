//! Refresh-ahead against plain expiry on one hot key: callers ask for the
//! key every millisecond for several TTL periods while its body takes 20 ms.
//! Without `refresh`, whoever calls right after expiry waits for the body;
//! with it, the reload runs in the background and nobody waits. Reports the
//! callers' latency percentiles and how often the body ran.
//!
//! `cargo bench --bench freshness`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use memo_runtime::AsyncCache;

const TTL: Duration = Duration::from_millis(200);
const REFRESH: Duration = Duration::from_millis(150);
const BODY: Duration = Duration::from_millis(20);
const CALLERS: usize = 4;
const RUN_FOR: Duration = Duration::from_secs(3);

async fn run(name: &str, refresh: bool) {
    let mut builder = AsyncCache::builder().default_ttl(TTL);
    if refresh {
        builder = builder.refresh_after(REFRESH);
    }
    let cache = Arc::new(builder.build().unwrap());
    // Warm: the first load waits in both cases and is not measured.
    cache.get_or_insert_with("hot", async { 7u64 }).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_millis(1));
                let mut latencies = Vec::new();
                while started.elapsed() < RUN_FOR {
                    ticks.tick().await;
                    let runs = runs.clone();
                    let load = move || async move {
                        runs.fetch_add(1, SeqCst);
                        tokio::time::sleep(BODY).await;
                        7u64
                    };
                    let call = Instant::now();
                    let value = if refresh {
                        cache.get_or_refresh_with("hot", load).await
                    } else {
                        cache.get_or_insert_with("hot", load()).await
                    };
                    latencies.push(call.elapsed());
                    assert_eq!(value, 7);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for caller in callers {
        latencies.extend(caller.await.unwrap());
    }
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let waited = latencies.iter().filter(|d| **d >= BODY / 2).count();
    println!(
        "{name:<31} calls {:>6}  waited for the body {waited:>3}  p50 {:>6.1} us  p99 {:>6.1} us  p99.9 {:>8.1} us  max {:>8.1} us  body runs {}",
        latencies.len(),
        us(at(0.5)),
        us(at(0.99)),
        us(at(0.999)),
        us(*latencies.last().unwrap()),
        runs.load(SeqCst),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "one hot key, {CALLERS} callers every 1 ms for {RUN_FOR:?}, ttl {TTL:?}, body {BODY:?}"
    );
    runtime.block_on(async {
        run("expiry (ttl only)", false).await;
        run("refresh-ahead (refresh 150 ms)", true).await;
    });
}
