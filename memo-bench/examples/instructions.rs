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
fn warm_up(rt: &Runtime) -> u64 {
    rt.block_on(async {
        let mut sum = 0u64;
        for k in 0..5_000 {
            sum = sum.wrapping_add(churn(black_box(k)).await);
            sum = sum.wrapping_add(hot(black_box(k % 1024)).await);
        }
        sum
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    black_box(warm_up(&rt));
    // New keys: past every key the warm-up stored.
    black_box(misses(&rt, 1_000_000));
    black_box(hits(&rt));
    println!("{CALLS} misses and {CALLS} hits");
}
