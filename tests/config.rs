//! `configure`: process-wide defaults, installed once, before any cache.
//!
//! The config is global to the process and every file in `tests/` is its own
//! process, so the steps that depend on each other run in order in one test.
//! The scenarios that need a process where something else happened first are
//! in `config_after_cache.rs` and `config_after_current_config.rs`.

use std::time::Duration;

use std::sync::LazyLock;

use memo_runtime::{AsyncCache, Config, ConfigError, ManualClock, configure, current_config};

const TTL: Duration = Duration::from_millis(200);
const MAX_SIZE: usize = 5;
static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

#[tokio::test]
async fn configure_once_then_caches_use_it() {
    // Bad values are rejected before anything is installed: the good
    // configure below would fail with AlreadyConfigured if they had been.
    assert_eq!(
        configure(Config::default().max_size(0)),
        Err(ConfigError::ZeroMaxSize)
    );
    assert_eq!(
        configure(Config::default().default_ttl(Duration::ZERO)),
        Err(ConfigError::ZeroTtl)
    );

    let wanted = Config::default()
        .default_ttl(TTL)
        .max_size(MAX_SIZE)
        .clock(CLOCK.clone());
    assert_eq!(configure(wanted.clone()), Ok(()));
    assert_eq!(current_config(), &wanted);

    // Only once, whatever the second config says.
    assert_eq!(
        configure(wanted.clone()),
        Err(ConfigError::AlreadyConfigured)
    );
    let other = Config::default().max_size(7);
    let err = configure(other).unwrap_err();
    assert_eq!(err, ConfigError::AlreadyConfigured);
    assert!(err.to_string().contains("once"), "says what to do: {err}");
    assert_eq!(
        current_config(),
        &wanted,
        "a refused configure changes nothing"
    );

    uses_the_configured_bound(AsyncCache::new()).await;
    uses_the_configured_ttl(AsyncCache::new()).await;

    // A builder takes what it sets from itself and the rest from the config.
    let own_bound = AsyncCache::builder().max_size(50).build().unwrap();
    assert_eq!((own_bound.max_size(), own_bound.default_ttl()), (50, TTL));
    uses_the_configured_ttl(own_bound).await;
    let own_ttl = AsyncCache::builder()
        .default_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(own_ttl.max_size(), MAX_SIZE);
    uses_the_configured_bound(own_ttl).await;
}

async fn uses_the_configured_bound(cache: AsyncCache) {
    assert_eq!(cache.max_size(), MAX_SIZE);
    for key in 0..=MAX_SIZE as u32 {
        cache.set(&key, key).await;
    }
    assert_eq!(cache.len(), MAX_SIZE);
    assert_eq!(cache.get::<_, u32>(&0u32).await, None, "the oldest went");
}

async fn uses_the_configured_ttl(cache: AsyncCache) {
    assert_eq!(cache.default_ttl(), TTL);
    cache.set("k", 1u32).await;
    assert_eq!(cache.get::<_, u32>("k").await, Some(1));
    CLOCK.advance(TTL);
    assert_eq!(cache.get::<_, u32>("k").await, None);
}
