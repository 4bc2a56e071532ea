//! Reading the defaults settles them, as creating a cache does. Its own file,
//! so its own process: nothing else touched the config.

use memo_runtime::{AsyncCache, Config, ConfigError, DEFAULT_MAX_SIZE, configure, current_config};

#[test]
fn configure_after_current_config_is_refused() {
    assert_eq!(current_config().get_max_size(), DEFAULT_MAX_SIZE);
    assert_eq!(
        configure(Config::default().max_size(7)),
        Err(ConfigError::CachesAlreadyCreated)
    );
    assert_eq!(AsyncCache::new().max_size(), DEFAULT_MAX_SIZE);
}
