//! A driver for counting the instructions of a hit and of a miss with
//! callgrind, which times cannot tell apart on a noisy VM (see
//! BENCHMARKS.md). Each workload runs once to warm up, then once in a
//! function of its own, which `--toggle-collect` names:
//!
//! ```sh
//! cargo build --release -p memo-bench --example instructions
//! valgrind --tool=callgrind --toggle-collect='instructions::misses' \
//!     target/release/examples/instructions
//! valgrind --tool=callgrind --toggle-collect='instructions::hits' \
//!     target/release/examples/instructions
//! valgrind --tool=callgrind --toggle-collect='instructions::tag_hits' \
//!     target/release/examples/instructions
//! ```
//!
//! Divide the `Collected` count by [`CALLS`]. The warm-up also starts the
//! clock thread and calibrates the precise clock, which are not counted.

use std::hint::black_box;

use tokio::runtime::Runtime;

/// Calls in each counted run.
const CALLS: u64 = 100_000;

/// Workload 4 of the `hits` bench: every call a new key, the cache full.
#[memo_runtime::cached(max_size = 1000)]
async fn churn(k: u64) -> u64 {
    k.wrapping_mul(3)
}

/// Workload 1: 1,024 hot keys in a cache that holds them all.
#[memo_runtime::cached(max_size = 4096)]
async fn hot(k: u64) -> u64 {
    k.wrapping_mul(3)
}

/// Workload 2: a `(String, Vec<String>)` argument of four short tags,
/// 1,024 of them, all cached.
#[memo_runtime::cached(max_size = 4096)]
async fn tagged(name: &str, tags: &[String]) -> u64 {
    (name.len() + tags.len()) as u64
}

/// Workload 2's 1,024 arguments.
fn tag_args() -> Vec<(String, Vec<String>)> {
    (0..1024)
        .map(|i| {
            let tags = (0..4).map(|t| format!("tag-{}", (i + t) % 97)).collect();
            (format!("user-{i}"), tags)
        })
        .collect()
}

#[inline(never)]
fn tag_hits(rt: &Runtime, args: &[(String, Vec<String>)]) -> u64 {
    rt.block_on(async {
        let mut sum = 0u64;
        for k in 0..CALLS as usize {
            let (name, tags) = &args[k % args.len()];
            sum = sum.wrapping_add(tagged(black_box(name), black_box(tags)).await);
        }
        sum
    })
}

#[inline(never)]
fn misses(rt: &Runtime, from: u64) -> u64 {
    rt.block_on(async {
        let mut sum = 0u64;
        for k in from..from + CALLS {
            sum = sum.wrapping_add(churn(black_box(k)).await);
        }
        sum
    })
}

#[inline(never)]
fn hits(rt: &Runtime) -> u64 {
    rt.block_on(async {
        let mut sum = 0u64;
        for k in 0..CALLS {
            sum = sum.wrapping_add(hot(black_box(k % 1024)).await);
        }
        sum
    })
}

#[inline(never)]
fn warm_up(rt: &Runtime, args: &[(String, Vec<String>)]) -> u64 {
    rt.block_on(async {
        let mut sum = 0u64;
        for k in 0..5_000 {
            sum = sum.wrapping_add(churn(black_box(k)).await);
            sum = sum.wrapping_add(hot(black_box(k % 1024)).await);
            let (name, tags) = &args[k as usize % args.len()];
            sum = sum.wrapping_add(tagged(name, tags).await);
        }
        sum
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let args = tag_args();
    black_box(warm_up(&rt, &args));
    // New keys: past every key the warm-up stored.
    black_box(misses(&rt, 1_000_000));
    black_box(hits(&rt));
    black_box(tag_hits(&rt, &args));
    println!("{CALLS} misses, {CALLS} hits and {CALLS} hits on tags");
}
