//! The README's main example: a slow upstream API behind `#[cached]`.
//!
//! 1,000 calls over 100 distinct user ids, from 100 concurrent tasks, against
//! an upstream that takes about 100 ms per call. It prints how often the
//! upstream was really called, the hit ratio, and measured latencies.
//!
//! Run: `cargo run --release --example quickstart`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memo_runtime::{cached, invalidate};
use tokio::sync::Barrier;

const USERS: u64 = 100;
const TASKS: u64 = 100;
const CALLS_PER_TASK: u64 = 10;
const UPSTREAM_LATENCY: Duration = Duration::from_millis(100);

static UPSTREAM_CALLS: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug)]
#[allow(dead_code)] // the fields are there to be printed and cloned
struct User {
    id: u64,
    name: String,
}

#[derive(Debug)]
#[allow(dead_code)]
struct ApiError(String);

/// Stands in for an HTTP call of about 100 ms. Only `Ok` results are cached.
#[cached(ttl = 60, max_size = 1000)]
async fn fetch_user(user_id: u64) -> Result<User, ApiError> {
    UPSTREAM_CALLS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(UPSTREAM_LATENCY).await;
    Ok(User {
        id: user_id,
        name: format!("user-{user_id}"),
    })
}

/// One measured call: how long it took, and in which round it was made.
struct Sample {
    latency: Duration,
    phase: Phase,
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    /// The first round: 100 tasks ask for the 100 ids at once, so each call
    /// runs the upstream call.
    Cold,
    /// The later rounds, after every task finished the first (a barrier):
    /// every value is stored, so each call is a hit.
    Warm,
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let first_round_done = Arc::new(Barrier::new(TASKS as usize));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let first_round_done = Arc::clone(&first_round_done);
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            for call in 0..CALLS_PER_TASK {
                let (id, phase) = if call == 0 {
                    (task % USERS, Phase::Cold)
                } else {
                    (
                        pseudo_random(task * CALLS_PER_TASK + call) % USERS,
                        Phase::Warm,
                    )
                };
                let t0 = Instant::now();
                let user = fetch_user(id)
                    .await
                    .expect("the upstream does not fail here");
                samples.push(Sample {
                    latency: t0.elapsed(),
                    phase,
                });
                assert_eq!(user.id, id);
                if call == 0 {
                    first_round_done.wait().await;
                }
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("task panicked"));
    }
    let wall = started.elapsed();

    let stats = fetch_user::stats();
    let upstream = UPSTREAM_CALLS.load(Ordering::Relaxed);
    let latencies = |phase: Phase| {
        let mut v: Vec<Duration> = samples
            .iter()
            .filter(|s| s.phase == phase)
            .map(|s| s.latency)
            .collect();
        v.sort();
        v
    };
    let cold = latencies(Phase::Cold);
    let warm = latencies(Phase::Warm);

    println!(
        "memo quickstart: {} calls over {USERS} user ids from {TASKS} tasks",
        samples.len()
    );
    println!(
        "  upstream calls made : {upstream} (one per distinct id; without memo: {})",
        samples.len()
    );
    println!(
        "  cache                : {} hits, {} misses, hit ratio {:.1}%",
        stats.hits,
        stats.misses,
        stats.hit_ratio() * 100.0
    );
    println!("  wall time            : {wall:.2?}");
    println!(
        "  first calls (misses) : p50 {:>10.2?}  p99 {:>10.2?}  ({} calls)",
        percentile(&cold, 50.0),
        percentile(&cold, 99.0),
        cold.len()
    );
    println!(
        "  later calls (hits)   : p50 {:>10.2?}  p99 {:>10.2?}  ({} calls)",
        percentile(&warm, 50.0),
        percentile(&warm, 99.0),
        warm.len()
    );

    // Forget one user: the next call goes upstream again.
    assert!(invalidate!(fetch_user, 7).await);
    let before = UPSTREAM_CALLS.load(Ordering::Relaxed);
    fetch_user(7)
        .await
        .expect("the upstream does not fail here");
    println!(
        "  after invalidate!(fetch_user, 7): {} more upstream call",
        UPSTREAM_CALLS.load(Ordering::Relaxed) - before
    );

    // A stampede: 100 concurrent calls for an id nobody asked for yet share
    // one upstream call (single flight).
    let before = UPSTREAM_CALLS.load(Ordering::Relaxed);
    let stampede: Vec<_> = (0..100)
        .map(|_| tokio::spawn(fetch_user(USERS + 1)))
        .collect();
    for call in stampede {
        call.await
            .expect("task panicked")
            .expect("the upstream does not fail here");
    }
    let stampede_calls = UPSTREAM_CALLS.load(Ordering::Relaxed) - before;
    println!("  100 concurrent calls of a new id: {stampede_calls} upstream call");

    // What the numbers must show; a regression fails the example loudly.
    assert_eq!(
        upstream, USERS,
        "each id should reach the upstream exactly once"
    );
    assert!(
        percentile(&warm, 99.0) < Duration::from_millis(1),
        "hits must take well under 1 ms"
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

/// A fixed, well-mixed sequence (splitmix64), so runs are comparable.
fn pseudo_random(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
