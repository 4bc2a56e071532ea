//! Unit tests of the encoder's byte format and canonical order.

use super::*;
use std::collections::{BTreeSet, HashMap, HashSet};

fn enc<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(&mut out, v).unwrap();
    out
}

#[test]
fn integers_of_every_width_agree_by_value() {
    assert_eq!(enc(&1u8), enc(&1u64));
    assert_eq!(enc(&1i32), enc(&1u128));
    assert_eq!(enc(&-1i8), enc(&-1i64));
    assert_ne!(enc(&-1i64), enc(&1i64));
    assert_ne!(enc(&0u64), enc(&256u64));
    assert_eq!(enc(&0u64), vec![INT_POS]);
    assert_eq!(enc(&300u64), vec![INT_POS + 2, 0x2C, 0x01]);
    assert_eq!(enc(&i128::MIN).len(), 17);
}

#[test]
fn floats_agree_by_value() {
    assert_eq!(enc(&0.0f64), enc(&-0.0f64));
    assert_eq!(enc(&f64::NAN), enc(&-f64::NAN));
    assert_eq!(enc(&1.5f32), enc(&1.5f64));
    assert_ne!(enc(&1.5f64), enc(&2.5f64));
}

#[test]
fn strings_are_length_prefixed() {
    assert_eq!(enc("ab"), vec![STR, 2, b'a', b'b']);
    assert_eq!(enc("ab"), enc(&String::from("ab")));
    // ("a", "bc") and ("ab", "c") must not collide.
    assert_ne!(enc(&("a", "bc")), enc(&("ab", "c")));
}

#[test]
fn a_length_prefix_is_one_varint_byte_below_128_and_more_from_there() {
    let text = "x".repeat(300);
    assert_eq!(enc(&text[..127])[..2], [STR, 127]);
    assert_eq!(enc(&text[..128])[..3], [STR, 0x80, 0x01]);
    assert_eq!(enc(&text[..300])[..3], [STR, 0xAC, 0x02]);
    // The key buffer writes a short header in one go; the bytes agree with
    // the plain vector's, below, at and above the buffer's inline size.
    for len in [0, 1, 100, 127, 128, 200, 300] {
        let mut buf = crate::key::buf::KeyBuf::new();
        encode_into(&mut buf, &text[..len]).unwrap();
        assert_eq!(&*buf, &enc(&text[..len])[..], "length {len}");
    }
}

#[test]
fn sets_are_recognised_by_type_and_sequences_are_not() {
    assert!(is_set::<&HashSet<u64>>());
    assert!(is_set::<&&BTreeSet<String>>());
    assert!(is_set::<HashSet<u64>>());
    assert!(is_set::<&hashbrown::HashSet<u8>>());
    assert!(!is_set::<&Vec<HashSet<u64>>>());
    assert!(!is_set::<&[u64]>());
    assert!(!is_set::<&[HashSet<u64>]>());
    assert!(!is_set::<&[(BTreeSet<u64>, u8)]>());
    assert!(!is_set::<&Option<HashSet<u64>>>());
}

#[test]
fn set_types_are_matched_by_their_full_path_only() {
    // indexmap is not a dependency: its name as `type_name` spells it.
    assert!(is_set_name("&indexmap::set::IndexSet<u8>"));
    assert!(is_set_name(
        "indexmap::set::IndexSet<u8, std::hash::random::RandomState>"
    ));
    assert!(!is_set_name("&my_crate::IndexSet<u8>"));
    assert!(!is_set_name("&my_crate::MyHashSet<u8>"));
    assert!(!is_set_name("&my_crate::collections::BTreeSet<u8>"));
    assert!(!is_set_name(
        "&my_crate::wrap::Wrap<std::collections::hash::set::HashSet<u8>>"
    ));
    assert!(!is_set_name(
        "&alloc::collections::btree::set::BTreeSetLike<u8>"
    ));
}

#[test]
fn a_skipped_field_has_a_tag_of_its_own() {
    #[derive(serde::Serialize)]
    struct S {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u8>,
        b: (),
    }
    assert_eq!(enc(&S { a: None, b: () }), vec![STRUCT, SKIPPED, UNIT, END]);
    #[derive(serde::Serialize)]
    enum E {
        V {
            #[serde(skip_serializing_if = "Option::is_none")]
            a: Option<u8>,
        },
    }
    assert_eq!(
        enc(&E::V { a: None }),
        vec![VARIANT, 0, STRUCT, SKIPPED, END]
    );
}

/// A map written pair by pair, repeated keys and all.
struct Pairs(Vec<(u8, u8)>);

impl Serialize for Pairs {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[test]
fn maps_with_a_repeated_key_keep_their_written_order() {
    // Keys and values from 1 to 255 take one byte each.
    let entry = |k: u8, v: u8| [INT_POS + 1, k, INT_POS + 1, v];
    let mut written = vec![MAP];
    for (k, v) in [(2, 5), (1, 2), (1, 1)] {
        written.extend(entry(k, v));
    }
    written.push(END);
    assert_eq!(enc(&Pairs(vec![(2, 5), (1, 2), (1, 1)])), written);

    let mut sorted = vec![MAP];
    for (k, v) in [(1, 9), (2, 5)] {
        sorted.extend(entry(k, v));
    }
    sorted.push(END);
    assert_eq!(enc(&Pairs(vec![(2, 5), (1, 9)])), sorted);
}

/// `levels` sequences, one inside the other.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Seqs(usize);

impl Serialize for Seqs {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeSeq;
        if self.0 == 0 {
            return serializer.serialize_unit();
        }
        let mut seq = serializer.serialize_seq(None)?;
        seq.serialize_element(&Seqs(self.0 - 1))?;
        seq.end()
    }
}

/// Whether `value`, inside `depth` levels, is too deep to key.
fn too_deep_at<T: Serialize + ?Sized>(value: &T, depth: usize) -> bool {
    match encode_at(&mut Vec::new(), value, depth) {
        Ok(()) => false,
        Err(err) => {
            assert!(err.to_string().contains("KEY_MAX_DEPTH"), "{err}");
            true
        }
    }
}

fn too_deep<T: Serialize + ?Sized>(value: &T) -> bool {
    too_deep_at(value, 0)
}

#[test]
fn every_compound_level_counts_towards_the_depth_limit() {
    assert!(!too_deep(&Seqs(KEY_MAX_DEPTH)));
    assert!(too_deep(&Seqs(KEY_MAX_DEPTH + 1)));
    assert!(!too_deep_at(&Seqs(KEY_MAX_DEPTH - 1), 1));
    assert!(too_deep_at(&Seqs(KEY_MAX_DEPTH), 1));
    assert!(too_deep_at(&Seqs(1), KEY_MAX_DEPTH));
    assert!(!too_deep_at(&Seqs(0), KEY_MAX_DEPTH));

    // One more level of each kind around a value at the limit fails.
    let full = || Seqs(KEY_MAX_DEPTH - 1);
    assert!(!too_deep(&vec![full()]));
    #[derive(serde::Serialize)]
    struct Newtype<T>(T);
    #[derive(serde::Serialize)]
    struct Struct<T> {
        t: T,
    }
    #[derive(serde::Serialize)]
    struct TupleStruct<T>(T, u8);
    #[derive(serde::Serialize)]
    enum Variant<T> {
        Newtype(T),
        Tuple(T, u8),
        Struct { t: T },
    }
    assert!(too_deep(&vec![vec![full()]]));
    assert!(too_deep(&[vec![full()]]));
    assert!(too_deep(&(vec![full()],)));
    assert!(too_deep(&Some(vec![full()])));
    assert!(too_deep(&Newtype(vec![full()])));
    assert!(too_deep(&Struct { t: vec![full()] }));
    assert!(too_deep(&TupleStruct(vec![full()], 0)));
    assert!(too_deep(&Variant::Newtype(vec![full()])));
    assert!(too_deep(&Variant::Tuple(vec![full()], 0)));
    assert!(too_deep(&Variant::Struct { t: vec![full()] }));
    assert!(too_deep(&HashMap::from([(0, vec![full()])])));
    // Map keys and set elements are as deep as map values.
    assert!(too_deep(&std::collections::BTreeMap::from([(
        vec![full()],
        0
    )])));
    assert!(too_deep(&BTreeSet::from([vec![full()]])));
    assert!(too_deep(&crate::KeyAsSet(&[vec![full()]])));
}

#[test]
fn map_order_does_not_matter_but_sequence_order_does() {
    let a: HashMap<&str, u32> = [("x", 1), ("y", 2), ("z", 3)].into_iter().collect();
    let b: HashMap<&str, u32> = [("z", 3), ("x", 1), ("y", 2)].into_iter().collect();
    assert_eq!(enc(&a), enc(&b));
    assert_ne!(enc(&vec![1, 2]), enc(&vec![2, 1]));
}

#[test]
fn hash_and_btree_sets_with_equal_elements_agree() {
    let h: HashSet<u32> = [3, 1, 2].into_iter().collect();
    let b: BTreeSet<u32> = [1, 2, 3].into_iter().collect();
    assert_eq!(enc(&h), enc(&b));
    assert_ne!(enc(&h), enc(&vec![1u32, 2, 3]));
}
