//! Freshness defaults in the global config (`stale`, `stale_retry`,
//! `jitter`, `time_to_idle`): checked by `configure`, and taken by every
//! cache and memoized function that does not set its own. Its own process:
//! the config is global.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use memo_runtime::{AsyncCache, Config, ConfigError, ManualClock, cached, configure};

static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
static DOWN: AtomicBool = AtomicBool::new(false);
static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60)]
fn rate(currency: String) -> Result<usize, String> {
    RUNS.fetch_add(1, SeqCst);
    if DOWN.load(SeqCst) {
        Err(format!("no rate for {currency}"))
    } else {
        Ok(currency.len())
    }
}

#[test]
fn freshness_defaults_are_checked_and_then_used() {
    for (bad, err) in [
        (
            Config::default().stale_retry(Duration::ZERO),
            ConfigError::ZeroStaleRetry,
        ),
        (Config::default().jitter(1.0), ConfigError::BadJitter),
        (Config::default().jitter(f64::NAN), ConfigError::BadJitter),
        (
            Config::default().time_to_idle(Duration::ZERO),
            ConfigError::ZeroIdle,
        ),
    ] {
        assert_eq!(configure(bad), Err(err.clone()));
        assert!(!err.to_string().is_empty());
    }
    configure(
        Config::default()
            .stale(Duration::from_secs(600))
            .stale_retry(Duration::from_secs(5))
            .time_to_idle(Duration::from_secs(30))
            .clock(CLOCK.clone()),
    )
    .unwrap();

    // stale: the function's failed reload is answered by the kept value.
    assert_eq!(rate("EUR".into()), Ok(3));
    CLOCK.advance(Duration::from_secs(60));
    DOWN.store(true, SeqCst);
    assert_eq!(rate("EUR".into()), Ok(3));
    assert_eq!(rate::stats().stale_served, 1);
    DOWN.store(false, SeqCst);

    // time_to_idle: an API cache without its own idles out.
    let cache = AsyncCache::builder()
        .default_ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    let set = async {
        cache.set("k", 1u8).await;
        CLOCK.advance(Duration::from_secs(30));
        cache.get::<_, u8>("k").await
    };
    let idle = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(set);
    assert_eq!(idle, None, "not hit for 30 s");
}
