//! What a cache holds: any value (falsy ones included) of any type, read back
//! only as the type it was stored as; delete, clear and the counters.

use std::sync::LazyLock;
use std::time::Duration;

use memo_runtime::AsyncCache;

fn cache() -> AsyncCache {
    AsyncCache::builder()
        .max_size(100)
        .default_ttl(Duration::from_secs(60))
        .build()
        .expect("valid settings")
}

#[derive(Debug, Clone, PartialEq)]
struct User {
    id: u64,
    name: String,
}

/// Values that look like "nothing" must not be mistaken for a miss.
#[tokio::test]
async fn falsy_values_are_hits() {
    let cache = cache();
    cache.set("none", None::<String>).await;
    cache.set("zero", 0u32).await;
    cache.set("empty", String::new()).await;
    cache.set("ok_unit", Ok::<(), String>(())).await;
    cache.set("unit", ()).await;
    cache.set("false", false).await;
    cache.set("empty_vec", Vec::<u8>::new()).await;

    assert_eq!(cache.get::<_, Option<String>>("none").await, Some(None));
    assert_eq!(cache.get::<_, u32>("zero").await, Some(0));
    assert_eq!(cache.get::<_, String>("empty").await, Some(String::new()));
    assert_eq!(
        cache.get::<_, Result<(), String>>("ok_unit").await,
        Some(Ok(()))
    );
    assert_eq!(cache.get::<_, ()>("unit").await, Some(()));
    assert_eq!(cache.get::<_, bool>("false").await, Some(false));
    assert_eq!(cache.get::<_, Vec<u8>>("empty_vec").await, Some(vec![]));
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (7, 0));
}

#[tokio::test]
async fn a_stored_none_is_served_by_the_loading_path_without_running_init() {
    let cache = cache();
    cache.set("none", None::<u32>).await;
    let got: Option<u32> = cache
        .get_or_insert_with("none", async { panic!("init must not run on a hit") })
        .await;
    assert_eq!(got, None);
}

#[tokio::test]
async fn one_cache_holds_values_of_several_types() {
    let cache = cache();
    let ada = User {
        id: 1,
        name: "Ada".into(),
    };
    cache.set("int", 7u64).await;
    cache.set("string", String::from("seven")).await;
    cache.set("bytes", vec![7u8; 3]).await;
    cache.set("user", ada.clone()).await;
    cache.set(&("tuple", 7), (7i32, 'x')).await;

    assert_eq!(cache.get::<_, u64>("int").await, Some(7));
    assert_eq!(
        cache.get::<_, String>("string").await.as_deref(),
        Some("seven")
    );
    assert_eq!(cache.get::<_, Vec<u8>>("bytes").await, Some(vec![7, 7, 7]));
    assert_eq!(cache.get::<_, User>("user").await, Some(ada));
    assert_eq!(
        cache.get::<_, (i32, char)>(&("tuple", 7)).await,
        Some((7, 'x'))
    );
    assert_eq!(cache.len(), 5);
}

#[tokio::test]
async fn asking_for_another_type_is_a_miss_and_keeps_the_entry() {
    let cache = cache();
    cache.set("k", 1u32).await;

    // Same bits, different type: u32 is not u64, nor i32.
    assert_eq!(cache.get::<_, u64>("k").await, None);
    assert_eq!(cache.get::<_, i32>("k").await, None);
    assert_eq!(cache.get::<_, String>("k").await, None);
    assert_eq!(cache.get::<_, Option<u32>>("k").await, None);

    assert_eq!(cache.len(), 1, "a type mismatch does not remove the entry");
    assert_eq!(cache.get::<_, u32>("k").await, Some(1));
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 4));
}

#[tokio::test]
async fn delete_reports_whether_it_removed_something() {
    let cache = cache();
    assert!(!cache.delete("never-set").await);

    cache.set("k", 1u32).await;
    cache.set("other", 2u32).await;
    assert!(cache.delete("k").await);
    assert_eq!(cache.get::<_, u32>("k").await, None);
    assert!(!cache.delete("k").await, "already gone");

    assert_eq!(cache.get::<_, u32>("other").await, Some(2), "others stay");
    assert_eq!(cache.stats().invalidations, 1);
}

#[tokio::test]
async fn clear_empties_the_cache_and_it_stays_usable() {
    let cache = cache();
    for key in 0..10u32 {
        cache.set(&key, key).await;
    }
    cache.clear().await;
    assert!(cache.is_empty());
    for key in 0..10u32 {
        assert_eq!(cache.get::<_, u32>(&key).await, None);
    }
    assert_eq!(cache.stats().invalidations, 10);

    cache.set(&3u32, 30u32).await;
    assert_eq!(cache.get::<_, u32>(&3u32).await, Some(30));
    assert_eq!(cache.len(), 1);
}

/// The usual way to share one cache between functions: a static.
static USERS: LazyLock<AsyncCache> = LazyLock::new(|| {
    AsyncCache::builder()
        .max_size(1000)
        .default_ttl(Duration::from_secs(60))
        .build()
        .expect("valid settings")
});

async fn save_user(user: User) {
    USERS.set(&("user", user.id), user).await;
}

async fn find_user(id: u64) -> Option<User> {
    USERS.get(&("user", id)).await
}

async fn forget_user(id: u64) -> bool {
    USERS.delete(&("user", id)).await
}

#[tokio::test]
async fn a_static_cache_is_shared_between_functions() {
    let grace = User {
        id: 42,
        name: "Grace".into(),
    };
    save_user(grace.clone()).await;
    assert_eq!(find_user(42).await, Some(grace));
    assert_eq!(find_user(43).await, None);
    assert!(forget_user(42).await);
    assert_eq!(find_user(42).await, None);
}

#[tokio::test]
async fn stats_count_every_kind_of_event() {
    let cache = cache();
    assert_eq!(cache.stats().hit_ratio(), 0.0, "no lookups yet");

    cache.set("a", 1u32).await;
    cache.set("b", 2u32).await;
    cache.set("a", 3u32).await; // a re-set is an insert too
    for _ in 0..3 {
        assert!(cache.get::<_, u32>("a").await.is_some());
    }
    assert_eq!(cache.get::<_, u32>("missing").await, None);
    assert!(cache.delete("b").await);

    let stats = cache.stats();
    assert_eq!(stats.hits, 3);
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.inserts, 3);
    assert_eq!(stats.invalidations, 1);
    assert_eq!((stats.evictions, stats.expirations), (0, 0));
    assert_eq!(stats.hit_ratio(), 0.75);
}

#[tokio::test]
async fn stats_are_per_cache() {
    let first = cache();
    let second = cache();
    first.set("k", 1u32).await;
    first.get::<_, u32>("k").await;
    let untouched = second.stats();
    assert_eq!((untouched.hits, untouched.inserts), (0, 0));
    assert_eq!(first.stats().hits, 1);
}
