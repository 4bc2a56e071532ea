//! A memoized function that waits for its own result (it calls itself with
//! the same arguments, directly or through other functions) would wait
//! forever; memo panics with a message naming the function instead.
//!
//! Without the detection these calls would hang, so every wait here is
//! bounded: a regression fails the test rather than stalling the suite.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use memo_runtime::cached;

/// Far longer than a detected re-entry takes (microseconds).
const HANG: Duration = Duration::from_secs(30);

#[cached]
async fn countdown(n: u32) -> u32 {
    // A bug: calls itself with the same argument.
    if n > 0 { boxed_countdown(n).await } else { 0 }
}

fn boxed_countdown(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(countdown(n))
}

#[cached]
async fn ping(n: u32) -> u32 {
    Box::pin(pong(n)).await + 1
}

#[cached]
async fn pong(n: u32) -> u32 {
    if n == 0 { 0 } else { Box::pin(ping(n)).await }
}

#[cached]
async fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        Box::pin(fib(n - 1)).await + Box::pin(fib(n - 2)).await
    }
}

async fn panic_message(task: impl Future<Output = u32> + Send + 'static) -> String {
    let err = tokio::time::timeout(HANG, tokio::spawn(task))
        .await
        .expect("the re-entry hung instead of panicking")
        .unwrap_err();
    let payload = err.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_function_awaiting_itself_panics_instead_of_hanging() {
    let message = panic_message(countdown(3)).await;
    assert!(message.contains("reentry::countdown"), "{message}");
    // Nothing was left behind: a later call with the same key panics the same
    // way rather than hanging on a dead load.
    assert_eq!(countdown::cache().loads_in_flight(), 0);
    assert_eq!(countdown(0).await, 0);
}

#[tokio::test]
async fn a_cycle_through_another_function_is_detected_too() {
    let message = panic_message(ping(2)).await;
    assert!(message.contains("reentry::ping"), "{message}");
}

#[tokio::test]
async fn recursion_with_other_arguments_is_fine() {
    assert_eq!(fib(30).await, 832_040);
}

#[cached]
fn sync_loop(n: u32) -> u32 {
    if n > 0 { sync_loop(n) } else { 0 }
}

#[test]
fn a_sync_function_calling_itself_panics_instead_of_deadlocking() {
    let thread = std::thread::spawn(|| sync_loop(1));
    let start = Instant::now();
    while !thread.is_finished() {
        assert!(
            start.elapsed() < HANG,
            "the re-entry deadlocked instead of panicking"
        );
        std::thread::yield_now();
    }
    let err = thread.join().unwrap_err();
    let message = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("reentry::sync_loop"), "{message}");
}

on_manual_clock!(KEPT_CLOCK, KEPT);
static LOOPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// With a kept value to fall back on: the re-entry must still panic, not be
/// taken for a failed reload and answered by the kept value.
#[cached(ttl = 60, stale = 3600, cache = KEPT)]
async fn with_fallback(n: u32) -> u32 {
    if LOOPING.load(std::sync::atomic::Ordering::SeqCst) {
        Box::pin(with_fallback(n)).await
    } else {
        n
    }
}

#[tokio::test]
async fn a_kept_value_does_not_hide_a_function_awaiting_itself() {
    assert_eq!(with_fallback(3).await, 3);
    // Past the TTL, the value is kept.
    KEPT_CLOCK.advance(Duration::from_secs(60));
    LOOPING.store(true, std::sync::atomic::Ordering::SeqCst);
    let text = panic_message(with_fallback(3)).await;
    assert!(text.contains("with_fallback"), "{text}");
    assert!(text.contains("wait for itself"), "{text}");
}
