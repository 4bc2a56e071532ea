//! `configure` after a cache has read the defaults is refused and changes
//! nothing. Its own file, so its own process: nothing else touched the config.

use std::time::Duration;

use memo_runtime::{
    AsyncCache, Config, ConfigError, DEFAULT_MAX_SIZE, DEFAULT_TTL, configure, current_config,
};

#[test]
fn configure_after_a_cache_exists_is_refused_and_changes_nothing() {
    let early = AsyncCache::new();

    let err = configure(
        Config::default()
            .max_size(7)
            .default_ttl(Duration::from_secs(7)),
    )
    .unwrap_err();
    assert_eq!(err, ConfigError::CachesAlreadyCreated);
    assert!(
        err.to_string().contains("before any cache"),
        "says when to call it: {err}"
    );

    assert_eq!(current_config(), &Config::default());
    for cache in [early, AsyncCache::new()] {
        assert_eq!(cache.max_size(), DEFAULT_MAX_SIZE);
        assert_eq!(cache.default_ttl(), DEFAULT_TTL);
    }
    // Still refused later: the first cache settled the defaults for good.
    assert_eq!(
        configure(Config::default()),
        Err(ConfigError::CachesAlreadyCreated)
    );
}
