//! `configure` reaches every kind of cache: `AsyncCache::new`, builders that
//! set only part of their settings, and memoized functions, eviction policy
//! included (its own process: the config is global).

use std::time::Duration;

use memo_runtime::{AsyncCache, Config, ConfigError, Eviction, cached, configure, current_config};

#[cached]
async fn uses_defaults(n: u32) -> u32 {
    n
}

#[tokio::test]
async fn configured_defaults_reach_every_cache() {
    let config = Config::default()
        .default_ttl(Duration::from_secs(42))
        .max_size(7)
        .eviction(Eviction::S3Fifo);
    configure(config.clone()).expect("the first valid configure");
    assert_eq!(current_config(), &config);

    let cache = AsyncCache::new();
    assert_eq!(cache.default_ttl(), Duration::from_secs(42));
    assert_eq!(cache.max_size(), 7);
    assert_eq!(cache.eviction(), Eviction::S3Fifo);
    // Builders take what they do not set from the defaults too.
    let built = AsyncCache::builder().max_size(3).build().unwrap();
    assert_eq!(
        (built.max_size(), built.default_ttl()),
        (3, Duration::from_secs(42))
    );
    // And so do memoized functions.
    uses_defaults(1).await;
    assert_eq!(uses_defaults::cache().max_size(), 7);

    let again = configure(Config::default());
    assert_eq!(again, Err(ConfigError::AlreadyConfigured));
    assert!(again.unwrap_err().to_string().contains("once"));
    assert_eq!(
        current_config(),
        &config,
        "a refused configure changes nothing"
    );
}
