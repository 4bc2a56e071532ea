//! The `tracing` output (feature `tracing`), captured by a subscriber that
//! writes every line into a buffer: a span around each load with the
//! cache's name and a digest of the key (never the arguments), events for
//! stale values served and refreshes, the shared tier's outage and
//! recovery, and nothing on a hit. Each test looks only at the lines of its
//! own caches (tests run in parallel, under one global subscriber).

#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use memo_runtime::{AsyncCache, ManualClock, SharedCache, SharedTier, cached};
use redis_server::RedisServer;

/// Everything the subscriber wrote.
static OUTPUT: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(|| {
    let output = Arc::new(Mutex::new(Vec::new()));
    let writer = output.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || Buffer(writer.clone()))
        .init();
    output
});

struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut output = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        output.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines written so far that contain `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    // One test's failed assertion must not hide the others' results.
    let output = OUTPUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    String::from_utf8_lossy(&output)
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cached]
async fn account_of(token: String) -> usize {
    tracing::info!("looking the account up");
    token.len()
}

#[tokio::test]
async fn a_load_runs_in_a_span_that_names_the_function_but_not_its_arguments() {
    LazyLock::force(&OUTPUT);
    assert_eq!(account_of("hunter2-secret".into()).await, 14);
    let inside = lines_with("looking the account up");
    assert_eq!(inside.len(), 1, "{inside:?}");
    let line = &inside[0];
    assert!(line.contains("memo.load{"), "{line}");
    assert!(line.contains("kind=\"load\""), "{line}");
    assert!(line.contains("::account_of"), "the cache's name: {line}");
    let key = line.split("key=\"").nth(1).expect("a key digest");
    assert!(key[..16].bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    assert_eq!(&key[16..17], "\"", "8 bytes of digest: {line}");
    assert!(lines_with("hunter2").is_empty(), "the argument never shows");

    // A hit writes nothing about the cache (every span and event of memo
    // names it; the other tests write to the same buffer meanwhile).
    let before = lines_with("::account_of").len();
    assert_eq!(account_of("hunter2-secret".into()).await, 14);
    assert_eq!(lines_with("::account_of").len(), before, "a hit is silent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_and_stale_values_are_events_of_their_cache() {
    LazyLock::force(&OUTPUT);
    let clock = ManualClock::new();
    let cache = Arc::new(
        AsyncCache::builder()
            .name("traced-rates")
            .default_ttl(Duration::from_secs(60))
            .refresh_after(Duration::from_secs(50))
            .stale(Duration::from_secs(600))
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let ok = |v: u32| move || async move { Ok::<u32, String>(v) };
    let failing = || || async { Err::<u32, String>("down".into()) };
    assert_eq!(cache.try_get_or_refresh_with("eur", ok(1)).await, Ok(1));
    clock.advance(Duration::from_secs(50));
    assert_eq!(cache.try_get_or_refresh_with("eur", failing()).await, Ok(1));
    eventually("the refresh failed", || cache.stats().refresh_errors == 1).await;
    let ours = lines_with("cache=\"traced-rates\"");
    assert!(
        ours.iter()
            .any(|l| l.contains("DEBUG") && l.contains("refresh started")),
        "{ours:#?}"
    );
    assert!(
        ours.iter()
            .any(|l| l.contains("WARN") && l.contains("refresh failed")),
        "{ours:#?}"
    );
    // Expired, and the reload fails: the kept value, and an event.
    clock.advance(Duration::from_secs(60));
    assert_eq!(cache.try_get_or_refresh_with("eur", failing()).await, Ok(1));
    let stale = lines_with("served a value kept past its TTL");
    assert!(
        stale
            .iter()
            .any(|l| l.contains("INFO") && l.contains("traced-rates")),
        "{stale:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_tier_tells_of_an_outage_and_its_recovery() {
    LazyLock::force(&OUTPUT);
    let mut server = RedisServer::start();
    let tier = SharedTier::builder(&server.url())
        .prefix("traced")
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(tier.wait_available(Duration::from_secs(10)).await);
    let url = server.url();
    let about_tier = || lines_with(&format!("tier=\"{url}\""));
    eventually("it says it is available", || {
        about_tier().iter().any(|l| l.contains("available"))
    })
    .await;
    let cache = SharedCache::builder("traced-users", tier.clone())
        .build()
        .unwrap();
    cache.set("a", 1u32).await;

    server.kill();
    eventually("it says Redis is unreachable", || {
        about_tier()
            .iter()
            .any(|l| l.contains("WARN") && l.contains("unreachable"))
    })
    .await;
    // Calls go to memory meanwhile; the skipped Redis calls are events.
    let _ = cache.get::<_, u32>("b").await;
    eventually("a shared-tier error of the cache", || {
        !lines_with("cache=\"traced-users\"").is_empty()
    })
    .await;

    server.restart();
    assert!(tier.wait_available(Duration::from_secs(15)).await);
    eventually("it says it is back", || {
        let lines = about_tier();
        lines.iter().any(|l| l.contains("answers again"))
            && lines.iter().filter(|l| l.contains("available (")).count() >= 2
    })
    .await;
}
