//! `configure` after a cache has read the defaults is refused and changes
//! nothing (its own process: the config is global).

use memo_runtime::{AsyncCache, Config, ConfigError, configure, current_config};

#[test]
fn configure_after_a_cache_exists_is_an_error_and_changes_nothing() {
    let cache = AsyncCache::new();
    assert_eq!(cache.max_size(), 1000);
    let err = configure(Config::default().max_size(5)).unwrap_err();
    assert_eq!(err, ConfigError::CachesAlreadyCreated);
    assert!(err.to_string().contains("before any cache"), "{err}");
    assert_eq!(current_config().get_max_size(), 1000);
    assert_eq!(AsyncCache::new().max_size(), 1000);
}
