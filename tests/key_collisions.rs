//! Values that must not share a key (a wrong hit would return another call's
//! result) and types that share keys on purpose (as documented on
//! `CacheKey`), built as a user would, through `CacheKey` and `AsyncCache`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::num::NonZeroU64;
use std::time::Duration;

use memo_runtime::{AsyncCache, CacheKey, KEY_MAX_DEPTH, KeyAsSet, cached};
use serde::{Serialize, Serializer};

fn key<T: Serialize + ?Sized>(value: &T) -> CacheKey {
    CacheKey::try_of(value).unwrap()
}

fn cache() -> AsyncCache {
    AsyncCache::builder()
        .max_size(100)
        .default_ttl(Duration::from_secs(60))
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Maps with repeated keys keep the order their entries were written in.

/// A struct whose map is flattened beside a field of the same name: serde
/// writes one map with the key `"a"` twice.
#[derive(Serialize)]
struct Flat {
    a: u32,
    #[serde(flatten)]
    rest: BTreeMap<String, u32>,
}

fn flat(a: u32, rest: &[(&str, u32)]) -> Flat {
    Flat {
        a,
        rest: rest.iter().map(|&(k, v)| (k.to_owned(), v)).collect(),
    }
}

/// A map written entry by entry from a list, repeated keys and all.
struct Pairs(Vec<(u32, u32)>);

impl Serialize for Pairs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[test]
fn a_flattened_map_beside_a_field_of_the_same_name_keeps_which_is_which() {
    assert_ne!(key(&flat(2, &[("a", 1)])), key(&flat(1, &[("a", 2)])));
    // Without repeated keys the map is still canonical.
    let mut rest = HashMap::new();
    rest.insert("y".to_owned(), 2);
    rest.insert("x".to_owned(), 1);
    let hashed = HashedFlat { a: 0, rest };
    assert_eq!(key(&hashed), key(&flat(0, &[("x", 1), ("y", 2)])));
}

/// `Flat` with a `HashMap`, to show the order of a hash map's entries still
/// does not matter.
#[derive(Serialize)]
struct HashedFlat {
    a: u32,
    #[serde(flatten)]
    rest: HashMap<String, u32>,
}

#[test]
fn repeated_map_keys_keep_their_written_order() {
    let one_two = key(&Pairs(vec![(1, 1), (1, 2)]));
    let two_one = key(&Pairs(vec![(1, 2), (1, 1)]));
    assert_ne!(one_two, two_one);
    assert_eq!(one_two, key(&Pairs(vec![(1, 1), (1, 2)])));
    // Repeated keys among others: still no wrong hit.
    assert_ne!(
        key(&Pairs(vec![(0, 0), (1, 1), (1, 2), (2, 2)])),
        key(&Pairs(vec![(0, 0), (1, 2), (1, 1), (2, 2)]))
    );
    // A map with a repeated key is not a map without it.
    assert_ne!(one_two, key(&Pairs(vec![(1, 1)])));
    assert_ne!(one_two, key(&Pairs(vec![(1, 2)])));
    // Distinct keys are sorted, as before.
    assert_eq!(
        key(&Pairs(vec![(2, 2), (1, 1), (3, 0)])),
        key(&Pairs(vec![(1, 1), (3, 0), (2, 2)]))
    );
    assert_eq!(
        key(&Pairs(vec![(1, 1), (2, 2)])),
        key(&BTreeMap::from([(1u32, 1u32), (2, 2)]))
    );
}

#[tokio::test]
async fn a_cached_flattened_value_is_not_returned_for_its_mirror_image() {
    let cache = cache();
    cache.set(&flat(2, &[("a", 1)]), "first").await;
    assert_eq!(cache.get::<_, &str>(&flat(1, &[("a", 2)])).await, None);
    assert_eq!(
        cache.get::<_, &str>(&flat(2, &[("a", 1)])).await,
        Some("first")
    );
}

// ---------------------------------------------------------------------------
// A skipped field is not a unit value.

#[derive(Serialize, Clone, Copy)]
#[serde(untagged)]
enum Field {
    /// Serialized as `()` (untagged unit variant).
    Nothing,
    /// Serialized as the bare number.
    Num(u32),
}

fn is_zero(field: &Field) -> bool {
    matches!(field, Field::Num(0))
}

#[derive(Serialize)]
struct Record {
    #[serde(skip_serializing_if = "is_zero")]
    field: Field,
    id: u32,
}

#[derive(Serialize)]
enum Change {
    Set {
        #[serde(skip_serializing_if = "is_zero")]
        field: Field,
    },
}

#[test]
fn a_skipped_field_does_not_key_like_a_unit_value() {
    let skipped = Record {
        field: Field::Num(0),
        id: 1,
    };
    let unit = Record {
        field: Field::Nothing,
        id: 1,
    };
    assert_ne!(key(&skipped), key(&unit));
    assert_ne!(key(&()), key(&Field::Num(0)));
    assert_eq!(key(&()), key(&Field::Nothing));
    // Skipping stays deterministic, and distinct from any written value.
    assert_eq!(
        key(&skipped),
        key(&Record {
            field: Field::Num(0),
            id: 1
        })
    );
    assert_ne!(
        key(&skipped),
        key(&Record {
            field: Field::Num(1),
            id: 1
        })
    );

    let skipped = Change::Set {
        field: Field::Num(0),
    };
    let unit = Change::Set {
        field: Field::Nothing,
    };
    assert_ne!(key(&skipped), key(&unit));
}

#[cached]
async fn describe(record: &Record) -> String {
    match record.field {
        Field::Nothing => "nothing".to_owned(),
        Field::Num(n) => format!("number {n}"),
    }
}

#[tokio::test]
async fn a_memoized_call_with_a_skipped_field_is_not_answered_for_a_unit() {
    let nothing = Record {
        field: Field::Nothing,
        id: 3,
    };
    let zero = Record {
        field: Field::Num(0),
        id: 3,
    };
    assert_eq!(describe(&nothing).await, "nothing");
    assert_eq!(describe(&zero).await, "number 0");
    assert_eq!(describe::stats().hits, 0);
}

// ---------------------------------------------------------------------------
// Depth.

/// A tree of maps. Its derived `Serialize` opens two levels per `Map`: the
/// variant and the map.
#[derive(Serialize)]
enum Nest {
    Leaf,
    Map(BTreeMap<u8, Nest>),
}

/// `levels` maps, each holding the next, built without recursion.
fn nest(levels: usize) -> Nest {
    let mut nest = Nest::Leaf;
    for _ in 0..levels {
        nest = Nest::Map(BTreeMap::from([(0, nest)]));
    }
    nest
}

/// Drops a `nest` one level at a time: the derived drop glue recurses once
/// per level and would itself overflow the stack of a small thread for 10,000
/// levels.
fn drop_nest(mut nest: Nest) {
    while let Nest::Map(mut map) = nest {
        match map.pop_first() {
            Some((_, inner)) => nest = inner,
            None => break,
        }
    }
}

/// Opens `self.0` sequences, one inside the other: exactly one level each.
struct Seqs(usize);

impl Serialize for Seqs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        if self.0 == 0 {
            return serializer.serialize_unit();
        }
        let mut seq = serializer.serialize_seq(Some(1))?;
        seq.serialize_element(&Seqs(self.0 - 1))?;
        seq.end()
    }
}

/// A list through `Option<Box<Self>>` in a newtype struct: no sequence, map
/// or struct anywhere, only newtypes and `Some`.
#[derive(Serialize)]
struct Chain(Option<Box<Chain>>);

fn chain(levels: usize) -> Chain {
    let mut chain = Chain(None);
    for _ in 0..levels {
        chain = Chain(Some(Box::new(chain)));
    }
    chain
}

fn drop_chain(mut chain: Chain) {
    while let Some(inner) = chain.0.take() {
        chain = *inner;
    }
}

/// Runs `f` on a thread with a 2 MiB stack, the size `std::thread::spawn`
/// and tokio's workers use by default.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

const LIMIT: usize = KEY_MAX_DEPTH;

#[test]
fn the_depth_limit_is_serde_jsons() {
    assert_eq!(KEY_MAX_DEPTH, 128);
}

#[test]
fn a_value_at_the_depth_limit_has_a_key_and_one_level_deeper_has_none() {
    on_small_stack(|| {
        assert!(CacheKey::try_of(&Seqs(LIMIT)).is_ok());
        let err = CacheKey::try_of(&Seqs(LIMIT + 1)).unwrap_err().to_string();
        assert!(err.contains("128"), "names the limit: {err}");
        assert!(err.contains("KEY_MAX_DEPTH"), "names the limit: {err}");

        // Two levels per `Map`.
        let at_limit = nest(LIMIT / 2);
        assert!(CacheKey::try_of(&at_limit).is_ok());
        let deeper = vec![at_limit];
        assert!(CacheKey::try_of(&deeper).is_err());
        drop_nest(deeper.into_iter().next().unwrap());
    });
}

#[test]
fn ten_thousand_levels_are_an_error_not_an_abort() {
    on_small_stack(|| {
        let deep = nest(10_000);
        let err = CacheKey::try_of(&deep).unwrap_err().to_string();
        assert!(err.contains("128"), "{err}");
        drop_nest(deep);

        let deep = chain(10_000);
        assert!(CacheKey::try_of(&deep).is_err());
        drop_chain(deep);

        let deep = Seqs(10_000);
        assert!(CacheKey::try_of(&deep).is_err());
    });
}

#[cached]
async fn count_levels(nest: &Nest) -> usize {
    let mut levels = 0;
    let mut at = nest;
    while let Nest::Map(map) = at {
        levels += 1;
        at = map.values().next().unwrap();
    }
    levels
}

#[test]
fn a_memoized_call_with_a_too_deep_argument_runs_uncached() {
    on_small_stack(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let deep = nest(10_000);
        assert_eq!(runtime.block_on(count_levels(&deep)), 10_000);
        assert_eq!(runtime.block_on(count_levels(&deep)), 10_000);
        let stats = count_levels::stats();
        assert_eq!((stats.hits, stats.key_errors), (0, 2));
        drop_nest(deep);
    });
}

// ---------------------------------------------------------------------------
// Sets.

/// An ordered collection that merely ends its name in `IndexSet`.
struct MyIndexSet(Vec<u8>);

impl<'a> IntoIterator for &'a MyIndexSet {
    type Item = &'a u8;
    type IntoIter = std::slice::Iter<'a, u8>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for MyIndexSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self)
    }
}

#[test]
fn a_sequence_named_like_a_set_keeps_its_order() {
    assert_ne!(key(&MyIndexSet(vec![1, 2])), key(&MyIndexSet(vec![2, 1])));
    assert_eq!(key(&MyIndexSet(vec![1, 2])), key(&vec![1u8, 2]));
    assert_ne!(
        key(&[&MyIndexSet(vec![1, 2])]),
        key(&[&MyIndexSet(vec![2, 1])])
    );
}

/// An unordered set of the user's own: equal in any order.
#[derive(Serialize)]
struct Tags(Vec<&'static str>);

#[test]
fn key_as_set_makes_a_custom_set_order_insensitive() {
    let a = MyIndexSet(vec![3, 1, 2]);
    let b = MyIndexSet(vec![2, 3, 1]);
    assert_eq!(key(&KeyAsSet(&a)), key(&KeyAsSet(&b)));
    assert_ne!(key(&KeyAsSet(&a)), key(&KeyAsSet(&MyIndexSet(vec![1, 2]))));
    // It keys like the std sets with those elements, and not like a sequence.
    assert_eq!(key(&KeyAsSet(&a)), key(&BTreeSet::from([1u8, 2, 3])));
    assert_ne!(key(&KeyAsSet(&a)), key(&a));

    // Through newtypes (derived `Serialize`), slices, `serialize_seq`, arrays.
    let tags = key(&KeyAsSet(&Tags(vec!["b", "a"])));
    assert_eq!(tags, key(&KeyAsSet(&Tags(vec!["a", "b"]))));
    assert_eq!(tags, key(&KeyAsSet(&["a", "b"][..])));
    assert_eq!(tags, key(&KeyAsSet(&["b", "a"])));
    assert_eq!(tags, key(&HashSet::from(["a", "b"])));
    assert_eq!(
        key(&KeyAsSet(&Seq(vec![2, 1]))),
        key(&KeyAsSet(&Seq(vec![1, 2])))
    );

    // Repeated elements count; sequences inside the elements stay ordered.
    assert_ne!(key(&KeyAsSet(&[1, 1, 2])), key(&KeyAsSet(&[1, 2])));
    assert_eq!(key(&KeyAsSet(&[1, 2, 1])), key(&KeyAsSet(&[1, 1, 2])));
    assert_ne!(
        key(&KeyAsSet(&[vec![1, 2], vec![3]])),
        key(&KeyAsSet(&[vec![2, 1], vec![3]]))
    );
    assert_eq!(
        key(&KeyAsSet(&[vec![1, 2], vec![3]])),
        key(&KeyAsSet(&[vec![3], vec![1, 2]]))
    );
    // Only the value directly inside is a set.
    assert_ne!(
        key(&KeyAsSet(&Some(vec![2, 1]))),
        key(&KeyAsSet(&Some(vec![1, 2])))
    );
    // A value that is not a sequence keys as itself.
    assert_eq!(key(&KeyAsSet(&7u8)), key(&7u8));
}

/// A sequence written element by element with `serialize_seq`.
struct Seq(Vec<u8>);

impl Serialize for Seq {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for element in &self.0 {
            seq.serialize_element(element)?;
        }
        seq.end()
    }
}

#[cached(key = KeyAsSet(tags))]
async fn tag_count(tags: &Tags) -> usize {
    tags.0.len()
}

#[tokio::test]
async fn a_memoized_function_keyed_on_a_wrapped_set_hits_in_any_order() {
    assert_eq!(tag_count(&Tags(vec!["x", "y"])).await, 2);
    assert_eq!(tag_count(&Tags(vec!["y", "x"])).await, 2);
    assert_eq!(tag_count::stats().hits, 1);
}

// ---------------------------------------------------------------------------
// Types that share keys on purpose (the list on `CacheKey`).

#[derive(Serialize)]
struct UserId(u64);

#[derive(Serialize)]
struct Account(UserId);

#[derive(Serialize)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Serialize)]
struct Size {
    width: u8,
    height: u64,
}

#[derive(Serialize)]
struct Pair(u8, u8);

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
enum Shape {
    Empty,
    Circle(u32),
    Rect { w: u32, h: u32 },
}

#[derive(Serialize)]
enum Command {
    Stop,
    Go(u64),
    Move { dx: u8, dy: u8 },
}

#[derive(Serialize)]
struct WithSkip {
    id: u32,
    #[serde(skip)]
    _cache_hint: u32,
}

#[derive(Serialize)]
struct JustId {
    id: u32,
}

#[test]
fn integers_share_keys_by_value_across_widths_and_signedness() {
    let seven = key(&7u64);
    for other in [
        key(&7u8),
        key(&7u16),
        key(&7u32),
        key(&7u128),
        key(&7usize),
        key(&7i8),
        key(&7i16),
        key(&7i32),
        key(&7i64),
        key(&7i128),
        key(&7isize),
        key(&NonZeroU64::new(7).unwrap()),
    ] {
        assert_eq!(other, seven);
    }
    assert_eq!(key(&-3i8), key(&-3i64));
    assert_ne!(key(&-3i8), key(&3u8));
    assert_ne!(key(&1u8), key(&true));
    assert_ne!(key(&97u32), key(&'a'));
    assert_ne!(key(&1u8), key(&1.0f64));
}

#[test]
fn floats_share_keys_by_value() {
    assert_eq!(key(&1.5f32), key(&1.5f64));
    assert_eq!(key(&0.0f64), key(&-0.0f64));
    assert_eq!(key(&f64::NAN), key(&-f32::NAN));
    // 0.1f32 is not the f64 0.1: different values, different keys.
    assert_ne!(key(&0.1f32), key(&0.1f64));
    assert_eq!(key(&0.1f32), key(&f64::from(0.1f32)));
}

#[test]
fn strings_share_keys_whatever_holds_them() {
    let s = key("id-7");
    assert_eq!(key(&String::from("id-7")), s);
    assert_eq!(key(&Box::<str>::from("id-7")), s);
    assert_eq!(key(&Cow::Borrowed("id-7")), s);
    assert_eq!(key(&Cow::<str>::Owned("id-7".into())), s);
    assert_eq!(key(&&&"id-7"), s);
    assert_ne!(key("a"), key(&'a'));
    // Bytes are a sequence of integers (or, for arrays, a tuple), not a string.
    assert_ne!(key("ab"), key(&b"ab".to_vec()));
}

#[test]
fn sequences_share_keys_whatever_holds_them() {
    let v = key(&vec![1u8, 2, 3]);
    assert_eq!(key(&[1u32, 2, 3][..]), v);
    assert_eq!(key(&VecDeque::from([1u16, 2, 3])), v);
    assert_eq!(key(&LinkedList::from([1u64, 2, 3])), v);
    assert_eq!(key(&Box::<[u8]>::from([1, 2, 3])), v);
    // Arrays serialize as tuples in serde: an array keys like a tuple and a
    // tuple struct, not like a `Vec`.
    let array = key(&[1u8, 2]);
    assert_ne!(key(&[1u8, 2, 3]), v);
    assert_eq!(key(&(1u8, 2u64)), array);
    assert_eq!(key(&Pair(1, 2)), array);
    assert_ne!(key(&vec![1u8, 2]), array);
    // A binary heap is the sequence of its internal order.
    let heap = BinaryHeap::from([3u8, 1, 2]);
    assert_eq!(key(&heap), key(&heap.iter().collect::<Vec<_>>()));
}

#[test]
fn maps_and_sets_share_keys_whatever_their_type() {
    let hash: HashMap<&str, u32> = [("x", 1), ("y", 2)].into();
    let tree: BTreeMap<String, u8> = [("y".to_owned(), 2), ("x".to_owned(), 1)].into();
    assert_eq!(key(&hash), key(&tree));

    let hash: HashSet<u32> = [3, 1, 2].into();
    let tree: BTreeSet<u64> = [1, 2, 3].into();
    assert_eq!(key(&hash), key(&tree));
    // A set is not the sequence of its elements.
    assert_ne!(key(&tree), key(&vec![1u64, 2, 3]));

    // A struct with a flattened map is a map, keyed by its field names.
    let flattened = key(&flat(1, &[("b", 2)]));
    assert_eq!(flattened, key(&BTreeMap::from([("a", 1u8), ("b", 2)])));
}

#[test]
fn newtypes_references_and_boxes_are_transparent() {
    assert_eq!(key(&UserId(7)), key(&7u64));
    assert_eq!(key(&Account(UserId(7))), key(&7u8));
    assert_eq!(key(&Box::new(UserId(7))), key(&7u64));
    assert_eq!(key(&&UserId(7)), key(&7u64));
}

#[test]
fn structs_share_keys_by_field_values_not_names() {
    assert_eq!(
        key(&Point { x: 1, y: 2 }),
        key(&Size {
            width: 1,
            height: 2
        })
    );
    // A struct is not a tuple, nor a map of its fields.
    assert_ne!(key(&Point { x: 1, y: 2 }), key(&(1, 2)));
    assert_ne!(
        key(&Point { x: 1, y: 2 }),
        key(&BTreeMap::from([("x", 1), ("y", 2)]))
    );
    // `#[serde(skip)]` fields are not part of the key at all.
    let a = WithSkip {
        id: 1,
        _cache_hint: 5,
    };
    let b = WithSkip {
        id: 1,
        _cache_hint: 6,
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(key(&a), key(&JustId { id: 1 }));
}

#[test]
fn unit_values_share_one_key() {
    assert_eq!(key(&()), key(&Unit));
    assert_eq!(key(&()), key(&Field::Nothing));
    assert_ne!(key(&()), key(&None::<u8>));
}

#[test]
fn options_share_keys_by_value() {
    assert_eq!(key(&None::<u8>), key(&None::<String>));
    assert_eq!(key(&Some(1u8)), key(&Some(1u64)));
    assert_ne!(key(&Some(1u8)), key(&1u8));
    assert_ne!(key(&Some(())), key(&None::<()>));
}

#[test]
fn enum_variants_share_keys_by_index_and_payload() {
    assert_eq!(key(&Shape::Empty), key(&Command::Stop));
    assert_eq!(key(&Shape::Circle(3)), key(&Command::Go(3)));
    assert_eq!(
        key(&Shape::Rect { w: 1, h: 2 }),
        key(&Command::Move { dx: 1, dy: 2 })
    );
    assert_ne!(key(&Shape::Circle(3)), key(&3u32));
    assert_ne!(key(&Shape::Empty), key(&()));
}

#[tokio::test]
async fn one_cache_answers_a_key_of_another_type_with_an_equal_key() {
    let cache = cache();
    cache.set(&7u32, "seven").await;
    assert_eq!(cache.get::<_, &str>(&UserId(7)).await, Some("seven"));
    assert_eq!(cache.get::<_, &str>(&7i64).await, Some("seven"));
    cache.set("name", 1u8).await;
    assert_eq!(cache.get::<_, u8>(&String::from("name")).await, Some(1));
    assert_eq!(cache.get::<_, u8>(&Some("name")).await, None);
}
