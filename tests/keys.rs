//! Canonical keys: equal values give equal keys whatever the insertion order
//! of their maps and sets, different values give different keys (long ones
//! too), and namespaces keep equal values apart. What happens when a key
//! cannot be built is in `key_errors.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use memo_runtime::{AsyncCache, CacheKey};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use serde::Serialize;

/// A small xorshift generator: deterministic insertion orders from a seed.
fn shuffled<T: Clone>(items: impl IntoIterator<Item = T>, seed: &mut u64) -> Vec<T> {
    let mut items: Vec<T> = items.into_iter().collect();
    for i in (1..items.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        items.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
    items
}

#[derive(Serialize)]
struct Profile {
    name: String,
    tags: HashSet<String>,
    scores: HashMap<String, u32>,
    history: Vec<Option<BTreeSet<i64>>>,
    inner: Inner,
}

#[derive(Serialize)]
struct Inner {
    by_id: HashMap<u32, HashMap<String, HashSet<u8>>>,
    pair: (Option<HashSet<String>>, Vec<HashMap<u8, String>>),
}

/// The data of a `Profile`, in a canonical form the generator can produce.
type ProfileSpec = (
    String,
    BTreeSet<String>,
    BTreeMap<String, u32>,
    Vec<Option<BTreeSet<i64>>>,
    BTreeMap<u32, BTreeMap<String, BTreeSet<u8>>>,
    Option<BTreeSet<String>>,
    Vec<BTreeMap<u8, String>>,
);

fn profile_spec() -> impl Strategy<Value = ProfileSpec> {
    let word = "[a-z]{0,6}";
    (
        word,
        btree_set(word, 0..6),
        btree_map(word, any::<u32>(), 0..6),
        vec(proptest::option::of(btree_set(any::<i64>(), 0..4)), 0..4),
        btree_map(
            any::<u32>(),
            btree_map(word, btree_set(any::<u8>(), 0..4), 0..3),
            0..4,
        ),
        proptest::option::of(btree_set(word, 0..4)),
        vec(btree_map(any::<u8>(), word, 0..4), 0..3),
    )
}

/// Builds the profile, inserting every map and set, at every depth, in an
/// order drawn from `seed`.
fn build_profile(spec: &ProfileSpec, mut seed: u64) -> Profile {
    let seed = &mut seed;
    let (name, tags, scores, history, by_id, set, maps) = spec.clone();
    let mut by_id_built = HashMap::new();
    for (id, inner) in shuffled(by_id, seed) {
        let mut inner_built = HashMap::new();
        for (key, bytes) in shuffled(inner, seed) {
            inner_built.insert(key, shuffled(bytes, seed).into_iter().collect());
        }
        by_id_built.insert(id, inner_built);
    }
    Profile {
        name,
        tags: shuffled(tags, seed).into_iter().collect(),
        scores: shuffled(scores, seed).into_iter().collect(),
        history,
        inner: Inner {
            by_id: by_id_built,
            pair: (
                set.map(|s| shuffled(s, seed).into_iter().collect()),
                maps.into_iter()
                    .map(|m| shuffled(m, seed).into_iter().collect())
                    .collect(),
            ),
        },
    }
}

fn cache() -> AsyncCache {
    AsyncCache::builder()
        .max_size(10)
        .default_ttl(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Optional fields left out when empty, in a struct and in a struct variant.
#[derive(Serialize)]
struct Filter {
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<u32>,
}

#[derive(Serialize)]
enum Query {
    Range {
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
    },
}

/// A small value space, so that generated pairs are sometimes equal.
fn small_triple() -> impl Strategy<Value = (String, Vec<u32>, Option<i64>)> {
    (
        "[ab]{0,3}",
        vec(0..3u32, 0..3),
        proptest::option::of(-2..2i64),
    )
}

proptest! {
    #[test]
    fn maps_key_alike_in_any_insertion_order(
        (entries, reordered) in btree_map("[a-z]{0,8}", any::<u32>(), 0..20)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>())
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let a: HashMap<String, u32> = entries.iter().cloned().collect();
        let b: HashMap<String, u32> = reordered.iter().cloned().collect();
        let c: BTreeMap<String, u32> = reordered.into_iter().collect();
        prop_assert_eq!(CacheKey::of(&a), CacheKey::of(&b));
        prop_assert_eq!(CacheKey::of(&a), CacheKey::of(&c));
    }

    #[test]
    fn sets_key_alike_in_any_insertion_order(
        (elements, reordered) in btree_set("[a-z]{0,8}", 0..20)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>())
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let a: HashSet<String> = elements.iter().cloned().collect();
        let b: HashSet<String> = reordered.iter().cloned().collect();
        let c: BTreeSet<String> = reordered.into_iter().collect();
        prop_assert_eq!(CacheKey::of(&a), CacheKey::of(&b));
        prop_assert_eq!(CacheKey::of(&a), CacheKey::of(&c));
    }

    #[test]
    fn nested_structs_key_alike_whatever_their_collections_order(
        spec in profile_spec(),
        seed_a in 1..u64::MAX,
        seed_b in 1..u64::MAX,
    ) {
        let a = build_profile(&spec, seed_a);
        let b = build_profile(&spec, seed_b);
        prop_assert_eq!(CacheKey::of(&a), CacheKey::of(&b));
        // Inside tuples, Options and Vecs too.
        prop_assert_eq!(
            CacheKey::of(&(1u8, Some(vec![&a]))),
            CacheKey::of(&(1u8, Some(vec![&b])))
        );
    }

    #[test]
    fn str_and_string_agree(s in ".{0,40}", n in any::<u64>()) {
        let owned = s.clone();
        prop_assert_eq!(CacheKey::of(s.as_str()), CacheKey::of(&owned));
        prop_assert_eq!(CacheKey::of(&(s.as_str(), n)), CacheKey::of(&(owned.clone(), n)));
        prop_assert_eq!(CacheKey::of(&vec![s.as_str()]), CacheKey::of(&vec![owned.clone()]));
        prop_assert_eq!(CacheKey::of(&Some(s.as_str())), CacheKey::of(&Some(owned.clone())));
        let borrowed: HashMap<&str, u64> = [(s.as_str(), n)].into();
        let owned_map: HashMap<String, u64> = [(owned, n)].into();
        prop_assert_eq!(CacheKey::of(&borrowed), CacheKey::of(&owned_map));
    }

    #[test]
    fn keys_are_equal_exactly_when_values_are(a in small_triple(), b in small_triple()) {
        prop_assert_eq!(a == b, CacheKey::of(&a) == CacheKey::of(&b), "{:?} vs {:?}", a, b);
        prop_assert_eq!(a == b, CacheKey::of(&a).to_bytes() == CacheKey::of(&b).to_bytes());
    }

    /// `("a", "bc")` and `("ab", "c")` must not collide: boundaries count.
    #[test]
    fn moving_a_boundary_between_strings_changes_the_key(
        s in "[a-z]{0,12}", i in 0..=12usize, j in 0..=12usize,
    ) {
        let (i, j) = (i.min(s.len()), j.min(s.len()));
        let split_i = (&s[..i], &s[i..]);
        let split_j = (&s[..j], &s[j..]);
        prop_assert_eq!(i == j, CacheKey::of(&split_i) == CacheKey::of(&split_j));
    }

    /// A slice of sets is a sequence: its order counts although each element
    /// is a set, and it keys like a `Vec` of the same sets.
    #[test]
    fn sequences_of_sets_keep_their_order(
        a in vec(btree_set(0..3u8, 0..3), 0..4),
        b in vec(btree_set(0..3u8, 0..3), 0..4),
    ) {
        let hashed = |v: &[BTreeSet<u8>]| -> Vec<HashSet<u8>> {
            v.iter().map(|set| set.iter().copied().collect()).collect()
        };
        let (ha, hb) = (hashed(&a), hashed(&b));
        prop_assert_eq!(a == b, CacheKey::of(ha.as_slice()) == CacheKey::of(hb.as_slice()));
        prop_assert_eq!(a == b, CacheKey::of(a.as_slice()) == CacheKey::of(b.as_slice()));
        prop_assert_eq!(CacheKey::of(ha.as_slice()), CacheKey::of(&ha));
    }

    /// A skipped field keeps its place, so skipping a different field never
    /// makes two values key alike.
    #[test]
    fn skipped_fields_keep_their_place(
        a in (proptest::option::of(0..2u32), proptest::option::of(0..2u32)),
        b in (proptest::option::of(0..2u32), proptest::option::of(0..2u32)),
    ) {
        let filter = |(min, max)| Filter { min, max };
        let query = |(min, max)| Query::Range { min, max };
        prop_assert_eq!(a == b, CacheKey::of(&filter(a)) == CacheKey::of(&filter(b)));
        prop_assert_eq!(a == b, CacheKey::of(&query(a)) == CacheKey::of(&query(b)));
    }

    #[test]
    fn long_keys_are_digests_and_still_distinct(
        base in "[a-z]{130,300}", x in any::<char>(), y in any::<char>(),
    ) {
        let a = format!("{base}{x}");
        let b = format!("{base}{y}");
        prop_assert!(CacheKey::of(&a).is_digest());
        prop_assert_eq!(x == y, CacheKey::of(&a) == CacheKey::of(&b));
        prop_assert_eq!(CacheKey::of(&a), CacheKey::of(a.as_str()));
    }

    #[test]
    fn namespaces_separate_equal_values(value in small_triple()) {
        let billing = CacheKey::try_in("billing::invoice", &value).unwrap();
        let users = CacheKey::try_in("users::fetch", &value).unwrap();
        prop_assert_ne!(&billing, &users);
        prop_assert_ne!(billing.to_bytes(), users.to_bytes());
        prop_assert_eq!(billing.namespace(), "billing::invoice");
        prop_assert_eq!(&billing, &CacheKey::try_in("billing::invoice", &value).unwrap());
        // `try_of` is the empty namespace.
        prop_assert_eq!(CacheKey::try_of(&value).unwrap(), CacheKey::try_in("", &value).unwrap());
    }
}

#[test]
fn reordering_a_slice_of_sets_changes_the_key() {
    let (one, two): (HashSet<u32>, HashSet<u32>) = ([1].into(), [2].into());
    let forward = [one.clone(), two.clone()];
    let backward = [two, one];
    assert_ne!(CacheKey::of(&forward[..]), CacheKey::of(&backward[..]));
    let boxed = |s: &[HashSet<u32>]| -> Box<[HashSet<u32>]> { s.into() };
    assert_ne!(
        CacheKey::of(&boxed(&forward)),
        CacheKey::of(&boxed(&backward))
    );
}

#[test]
fn skipping_different_fields_of_a_struct_variant_changes_the_key() {
    let only_min = Query::Range {
        min: Some(1),
        max: None,
    };
    let only_max = Query::Range {
        min: None,
        max: Some(1),
    };
    assert_ne!(CacheKey::of(&only_min), CacheKey::of(&only_max));
}

/// The documented threshold: encodings up to 128 bytes are kept verbatim.
/// A string of n < 128 bytes encodes to 2 + n bytes (tag, length, bytes).
#[test]
fn digests_start_just_past_128_encoded_bytes() {
    assert!(!CacheKey::of(&"x".repeat(126)).is_digest());
    assert!(CacheKey::of(&"x".repeat(127)).is_digest());
    assert!(!CacheKey::of(&42u64).is_digest());
}

#[tokio::test]
async fn long_keys_that_differ_only_at_the_end_hold_separate_entries() {
    let cache = cache();
    let a = format!("{}a", "k".repeat(500));
    let b = format!("{}b", "k".repeat(500));
    cache.set(&a, 1u32).await;
    cache.set(&b, 2u32).await;
    assert_eq!(cache.get::<_, u32>(&a).await, Some(1));
    assert_eq!(cache.get::<_, u32>(b.as_str()).await, Some(2));
    assert_eq!(cache.len(), 2);
}
