//! A value whose `Serialize` fails has no key: `try_of` says so with advice,
//! and the cache methods that need a key panic with the same message rather
//! than guess one.

use std::collections::HashMap;
use std::time::Duration;

use memo_runtime::{AsyncCache, CacheKey};
use serde::{Serialize, Serializer, ser::Error as _};

fn cache() -> AsyncCache {
    AsyncCache::builder()
        .max_size(10)
        .default_ttl(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A type whose `Serialize` always fails, like a handle to a live connection.
struct Unkeyable;

impl Serialize for Unkeyable {
    fn serialize<S: Serializer>(&self, _serializer: S) -> Result<S::Ok, S::Error> {
        Err(S::Error::custom("connection handles cannot be keyed"))
    }
}

const KEY_ERROR: &str = "cannot build a cache key: connection handles cannot be keyed";

#[test]
fn a_failing_serialize_is_an_error_that_says_what_to_do() {
    let message = CacheKey::try_of(&Unkeyable).unwrap_err().to_string();
    assert!(message.contains(KEY_ERROR), "{message}");
    assert!(
        message.contains("Serialize"),
        "points at the impl: {message}"
    );
}

#[test]
fn a_failing_serialize_deep_inside_a_value_is_still_an_error() {
    assert!(CacheKey::try_of(&(1, vec![Some(Unkeyable)])).is_err());
    let in_map: HashMap<u32, Unkeyable> = [(1, Unkeyable)].into();
    assert!(CacheKey::try_of(&in_map).is_err());
    assert!(CacheKey::try_in("ns", &[Unkeyable]).is_err());
}

#[test]
#[should_panic(expected = "cannot build a cache key: connection handles cannot be keyed")]
fn cache_key_of_panics_with_the_error() {
    CacheKey::of(&Unkeyable);
}

#[tokio::test]
#[should_panic(expected = "cannot build a cache key: connection handles cannot be keyed")]
async fn get_with_an_unkeyable_key_panics_with_the_error() {
    let cache = cache();
    let _ = cache.get::<_, u32>(&Unkeyable).await;
}

#[tokio::test]
#[should_panic(expected = "cannot build a cache key: connection handles cannot be keyed")]
async fn set_with_an_unkeyable_key_panics_with_the_error() {
    let cache = cache();
    cache.set(&Unkeyable, 1u32).await;
}
