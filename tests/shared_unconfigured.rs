//! `#[cached(shared)]` without a configured tier caches in memory only,
//! with one warning on stderr, never a panic (its own process: nothing
//! configures).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::cached;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(shared)]
async fn price(sku: u32) -> u64 {
    RUNS.fetch_add(1, SeqCst);
    u64::from(sku)
}

#[tokio::test]
async fn without_a_tier_a_shared_function_caches_in_memory() {
    assert_eq!(price(3).await, 3);
    assert_eq!(price(3).await, 3);
    assert_eq!(RUNS.load(SeqCst), 1);
    assert_eq!(price::stats().hits, 1);
    assert!(price::invalidate(3).await);
    price::clear().await;
    assert!(price::cache().is_empty());
}

/// The warning, read from a child run of this test binary (a test's own
/// stderr is captured by the harness).
#[test]
fn the_missing_tier_is_warned_about_once_on_stderr() {
    if std::env::var_os("MEMO_TEST_WARNING_CHILD").is_some() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            price(1).await;
            price(2).await;
            price::invalidate(1).await;
        });
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_missing_tier_is_warned_about_once_on_stderr",
            "--nocapture",
        ])
        .env("MEMO_TEST_WARNING_CHILD", "1")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings = stderr.matches("no shared tier is configured").count();
    assert_eq!(warnings, 1, "{stderr}");
    assert!(
        stderr.contains("shared_unconfigured::price"),
        "names the function: {stderr}"
    );
}
