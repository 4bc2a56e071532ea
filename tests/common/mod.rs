//! Helpers shared by the behaviour tests (each test file is its own crate
//! and includes this with `mod common;`).

/// Declares `$cache`, a cache of `$max_size` entries (1000 if not given) on
/// the manual clock `$clock`, for one TTL test: time passes when the test
/// advances `$clock`, and no other test moves it.
#[macro_export]
macro_rules! on_manual_clock {
    ($clock:ident, $cache:ident) => {
        $crate::on_manual_clock!($clock, $cache, 1000);
    };
    ($clock:ident, $cache:ident, $max_size:expr) => {
        static $clock: std::sync::LazyLock<memo_runtime::ManualClock> =
            std::sync::LazyLock::new(memo_runtime::ManualClock::new);
        static $cache: std::sync::LazyLock<memo_runtime::AsyncCache> =
            std::sync::LazyLock::new(|| {
                memo_runtime::AsyncCache::builder()
                    .max_size($max_size)
                    .clock($clock.clone())
                    .build()
                    .expect("valid settings")
            });
    };
}
