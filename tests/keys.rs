//! Canonical keys: equal arguments give equal keys whatever the order of
//! their maps and sets, and different arguments never share a key.

use std::collections::{BTreeMap, HashMap, HashSet};

use memo_runtime::{AsyncCache, CacheKey};
use proptest::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
struct Query {
    name: String,
    filters: HashMap<String, Vec<u32>>,
    tags: HashSet<String>,
    nested: Option<Vec<BTreeMap<u8, HashSet<i64>>>>,
}

/// The same query built with every map and set filled in another order.
fn build(
    name: &str,
    filters: &[(String, Vec<u32>)],
    tags: &[String],
    nested: &[(u8, Vec<i64>)],
    reverse: bool,
) -> Query {
    let order = |n: usize| -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        if reverse {
            v.reverse();
        }
        v
    };
    let mut filter_map = HashMap::new();
    for i in order(filters.len()) {
        filter_map.insert(filters[i].0.clone(), filters[i].1.clone());
    }
    let mut tag_set = HashSet::new();
    for i in order(tags.len()) {
        tag_set.insert(tags[i].clone());
    }
    let mut inner = BTreeMap::new();
    for i in order(nested.len()) {
        let mut set = HashSet::new();
        for j in order(nested[i].1.len()) {
            set.insert(nested[i].1[j]);
        }
        inner.insert(nested[i].0, set);
    }
    Query {
        name: name.to_owned(),
        filters: filter_map,
        tags: tag_set,
        nested: Some(vec![inner]),
    }
}

proptest! {
    #[test]
    fn equal_values_give_equal_keys_in_any_insertion_order(
        name in ".{0,12}",
        // Maps of distinct keys, as vectors: `build` inserts them in order.
        filters in prop::collection::btree_map(".{0,6}", prop::collection::vec(any::<u32>(), 0..4), 0..8)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>()),
        tags in prop::collection::btree_set(".{0,6}", 0..8)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
        nested in prop::collection::btree_map(any::<u8>(), prop::collection::btree_set(any::<i64>(), 0..5), 0..5)
            .prop_map(|m| m.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect::<Vec<_>>()),
    ) {
        let a = build(&name, &filters, &tags, &nested, false);
        let b = build(&name, &filters, &tags, &nested, true);
        prop_assert_eq!(CacheKey::of(&a), CacheKey::of(&b));
        // Inside tuples and options too.
        prop_assert_eq!(CacheKey::of(&(1u8, Some(&a))), CacheKey::of(&(1u8, Some(&b))));
    }

    #[test]
    fn str_and_string_agree(text in ".{0,300}") {
        prop_assert_eq!(CacheKey::of(text.as_str()), CacheKey::of(&text));
        prop_assert_eq!(CacheKey::of(&(text.as_str(), 1)), CacheKey::of(&(text.clone(), 1)));
    }

    #[test]
    fn different_values_give_different_keys(
        a in (".{0,40}", prop::collection::vec(any::<u32>(), 0..40), any::<Option<i64>>()),
        b in (".{0,40}", prop::collection::vec(any::<u32>(), 0..40), any::<Option<i64>>()),
    ) {
        prop_assume!(a != b);
        prop_assert_ne!(CacheKey::of(&a), CacheKey::of(&b));
    }

    #[test]
    fn sets_key_by_their_elements(elements in prop::collection::btree_set(any::<u16>(), 0..20)) {
        let hashed: HashSet<u16> = elements.iter().copied().collect();
        prop_assert_eq!(CacheKey::of(&hashed), CacheKey::of(&elements));
        let mut with_one_more = elements.clone();
        with_one_more.insert(u16::MAX);
        with_one_more.insert(0);
        if with_one_more != elements {
            prop_assert_ne!(CacheKey::of(&with_one_more), CacheKey::of(&elements));
        }
    }
}

#[test]
fn long_keys_are_digests_and_still_tell_values_apart() {
    let base = "x".repeat(1_000);
    let other = format!("{}y", &base[1..]);
    let a = CacheKey::of(&base);
    let b = CacheKey::of(&other);
    assert!(a.is_digest() && b.is_digest());
    assert_ne!(a, b);
    assert_eq!(a, CacheKey::of(&base.clone()));
    assert!(!CacheKey::of(&"x".repeat(100)).is_digest());
}

#[test]
fn namespaces_keep_equal_values_apart() {
    let a = CacheKey::try_in("users::fetch", &7).unwrap();
    let b = CacheKey::try_in("orders::fetch", &7).unwrap();
    assert_ne!(a, b);
    assert_eq!(a, CacheKey::try_in("users::fetch", &7u8).unwrap());
}

#[test]
fn keys_with_sequences_and_orders_that_differ_do_not_collide() {
    assert_ne!(CacheKey::of(&vec![1, 2]), CacheKey::of(&vec![2, 1]));
    assert_ne!(CacheKey::of(&("a", "bc")), CacheKey::of(&("ab", "c")));
    assert_ne!(CacheKey::of(&Some(0)), CacheKey::of(&0));
    assert_ne!(
        CacheKey::of(&vec![Vec::<u8>::new()]),
        CacheKey::of(&Vec::<Vec<u8>>::new())
    );
}

/// A value whose `Serialize` fails, like a poisoned lock.
struct Unkeyable;

impl Serialize for Unkeyable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be serialized",
        ))
    }
}

#[test]
fn values_that_cannot_be_keyed_give_a_clear_error() {
    let err = CacheKey::try_of(&Unkeyable).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("refuses to be serialized"), "{message}");
    assert!(
        message.contains("skip"),
        "the message says how to fix it: {message}"
    );
}

#[tokio::test]
#[should_panic(expected = "refuses to be serialized")]
async fn the_cache_api_panics_with_that_error() {
    AsyncCache::new().get::<_, u8>(&Unkeyable).await;
}
