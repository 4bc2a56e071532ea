//! The canonical key encoder: a `serde::Serializer` that streams a value's data
//! model into a self-delimiting byte string.
//!
//! The format is documented on [`crate::CacheKey`]. Every encoded value starts
//! with a tag byte, strings carry their length, and compound values end with
//! [`END`], so encodings are prefix-free: two different values never encode to
//! the same bytes, and a concatenation of encodings splits back one way only.
//! That is what lets maps and sets be canonicalised by sorting their encoded
//! entries: comparing two encoded map entries compares their keys first.

use serde::ser::{self, Serialize};

use super::KeyError;

// Value tags. Integers of every width share one encoding (by sign and
// magnitude), so `1u8`, `1i32` and `1u64` give the same key; `f32` values are
// widened to `f64`. Names of types, fields and variants are not encoded: a
// function's signature already fixes them.
const UNIT: u8 = 0x00;
const NONE: u8 = 0x01;
const SOME: u8 = 0x02;
const FALSE: u8 = 0x03;
const TRUE: u8 = 0x04;
const F64: u8 = 0x05;
const CHAR: u8 = 0x06;
const STR: u8 = 0x07;
const BYTES: u8 = 0x08;
const SEQ: u8 = 0x09;
const TUPLE: u8 = 0x0A;
const STRUCT: u8 = 0x0B;
const MAP: u8 = 0x0C;
const SET: u8 = 0x0D;
const VARIANT: u8 = 0x0E;
/// `0x20 + n`: a non-negative integer whose little-endian bytes are `n` long (0..=16).
const INT_POS: u8 = 0x20;
/// `0x40 + n`: a negative integer `v`, stored as the `n` little-endian bytes of `!v`.
const INT_NEG: u8 = 0x40;
/// Closes every compound value (sequence, tuple, struct, map, set).
const END: u8 = 0xFF;

/// Where encoded bytes go: the key buffer, or the scratch arena of a map or set.
pub(crate) trait Sink {
    fn put(&mut self, byte: u8);
    fn put_all(&mut self, bytes: &[u8]);
    /// The `len` low bytes of `value`, little-endian.
    #[inline]
    fn put_le_u64(&mut self, value: u64, len: usize) {
        self.put_all(&value.to_le_bytes()[..len]);
    }
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, byte: u8) {
        self.push(byte);
    }
    #[inline]
    fn put_all(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Encodes `value` canonically, appending to `out`.
#[inline]
pub(crate) fn encode_into<S, T>(out: &mut S, value: &T) -> Result<(), KeyError>
where
    S: Sink,
    T: Serialize + ?Sized,
{
    value.serialize(Encoder { out })
}

/// Opens a tuple: what `serialize_tuple` writes before the elements.
pub(crate) fn begin_tuple<S: Sink>(out: &mut S) {
    out.put(TUPLE);
}

/// Closes a tuple (or any compound value).
pub(crate) fn end_compound<S: Sink>(out: &mut S) {
    out.put(END);
}

fn put_varint<S: Sink>(out: &mut S, mut v: u64) {
    while v >= 0x80 {
        out.put(v as u8 | 0x80);
        v >>= 7;
    }
    out.put(v as u8);
}

/// Floats are keyed by value: `-0.0` and `0.0` agree, and every NaN is one key.
fn canonical_f64(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// Whether a collection handed to `collect_seq` is a set, whose iteration
/// order means nothing (a hash set's order depends on its hasher's seed).
///
/// serde serializes sets and sequences alike, so the type is the only clue:
/// `HashSet`, `BTreeSet` (std or hashbrown) and `IndexSet` are recognised by
/// name. A set type of another name is encoded in iteration order, which is
/// canonical for ordered sets; the docs tell users to key unordered custom
/// sets through a sorted view.
#[inline]
fn is_set<I>() -> bool {
    let name = std::any::type_name::<I>().trim_start_matches('&');
    // Slices and `Vec`s, the common sequences, are told apart by their first
    // bytes, without scanning the whole (possibly long) type name. A slice of
    // sets (`[HashSet<T>]`) is a sequence: the set is its element's type.
    if name.starts_with(['[', '(']) || name.starts_with("alloc::vec::Vec<") {
        return false;
    }
    let base = name.split_once('<').map_or(name, |(base, _)| base);
    base.ends_with("HashSet") || base.ends_with("BTreeSet") || base.ends_with("IndexSet")
}

/// The serializer. It borrows its sink, so nested values write to the same place.
pub(crate) struct Encoder<'a, S: Sink> {
    out: &'a mut S,
}

impl<'a, S: Sink> Encoder<'a, S> {
    #[inline]
    fn uint(self, v: u128) -> Result<(), KeyError> {
        let len = (128 - v.leading_zeros() as usize).div_ceil(8);
        self.out.put(INT_POS + len as u8);
        match u64::try_from(v) {
            Ok(small) => self.out.put_le_u64(small, len),
            Err(_) => self.out.put_all(&v.to_le_bytes()[..len]),
        }
        Ok(())
    }

    #[inline]
    fn int(self, v: i128) -> Result<(), KeyError> {
        if v >= 0 {
            return self.uint(v as u128);
        }
        let magnitude = !v as u128;
        let len = (128 - magnitude.leading_zeros() as usize).div_ceil(8);
        self.out.put(INT_NEG + len as u8);
        self.out.put_all(&magnitude.to_le_bytes()[..len]);
        Ok(())
    }

    #[inline]
    fn len_prefixed(self, tag: u8, bytes: &[u8]) -> Result<(), KeyError> {
        self.out.put(tag);
        put_varint(self.out, bytes.len() as u64);
        self.out.put_all(bytes);
        Ok(())
    }

    #[inline]
    fn variant(&mut self, index: u32) {
        self.out.put(VARIANT);
        put_varint(self.out, u64::from(index));
    }

    #[inline]
    fn ordered(self, tag: u8) -> Ordered<'a, S> {
        self.out.put(tag);
        Ordered { out: self.out }
    }
}

impl<'a, S: Sink> ser::Serializer for Encoder<'a, S> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Ordered<'a, S>;
    type SerializeTuple = Ordered<'a, S>;
    type SerializeTupleStruct = Ordered<'a, S>;
    type SerializeTupleVariant = Ordered<'a, S>;
    type SerializeMap = Unordered<'a, S>;
    type SerializeStruct = Ordered<'a, S>;
    type SerializeStructVariant = Ordered<'a, S>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.out.put(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), KeyError> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), KeyError> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), KeyError> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), KeyError> {
        self.int(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<(), KeyError> {
        self.int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), KeyError> {
        self.uint(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), KeyError> {
        self.uint(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), KeyError> {
        self.uint(v.into())
    }
    /// The hot case of integer keys, in 64-bit arithmetic; the same bytes
    /// as `uint` writes.
    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), KeyError> {
        let len = (64 - v.leading_zeros() as usize).div_ceil(8);
        self.out.put(INT_POS + len as u8);
        self.out.put_le_u64(v, len);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), KeyError> {
        self.uint(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        self.out.put(F64);
        self.out.put_all(&canonical_f64(v).to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        self.out.put(CHAR);
        self.out.put_all(&u32::from(v).to_le_bytes());
        Ok(())
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        self.len_prefixed(STR, v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), KeyError> {
        self.len_prefixed(BYTES, v)
    }
    fn serialize_none(self) -> Result<(), KeyError> {
        self.out.put(NONE);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        self.out.put(SOME);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), KeyError> {
        self.out.put(UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), KeyError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        mut self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<(), KeyError> {
        self.variant(index);
        self.serialize_unit()
    }
    /// Newtypes are transparent: `UserId(7)` and `7` give the same key.
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.variant(index);
        value.serialize(self)
    }
    #[inline]
    fn serialize_seq(self, _len: Option<usize>) -> Result<Ordered<'a, S>, KeyError> {
        Ok(self.ordered(SEQ))
    }
    #[inline]
    fn serialize_tuple(self, _len: usize) -> Result<Ordered<'a, S>, KeyError> {
        Ok(self.ordered(TUPLE))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Ordered<'a, S>, KeyError> {
        Ok(self.ordered(TUPLE))
    }
    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Ordered<'a, S>, KeyError> {
        self.variant(index);
        Ok(self.ordered(TUPLE))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Unordered<'a, S>, KeyError> {
        Ok(Unordered::new(self.out, MAP))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Ordered<'a, S>, KeyError> {
        Ok(self.ordered(STRUCT))
    }
    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Ordered<'a, S>, KeyError> {
        self.variant(index);
        Ok(self.ordered(STRUCT))
    }

    #[inline]
    fn collect_seq<I>(self, iter: I) -> Result<(), KeyError>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        if is_set::<I>() {
            let mut set = Unordered::new(self.out, SET);
            for item in iter {
                set.entry(&item)?;
            }
            set.finish();
        } else {
            self.out.put(SEQ);
            for item in iter {
                item.serialize(Encoder {
                    out: &mut *self.out,
                })?;
            }
            self.out.put(END);
        }
        Ok(())
    }
}

/// Sequences, tuples and structs: elements in order, then [`END`].
pub(crate) struct Ordered<'a, S: Sink> {
    out: &'a mut S,
}

impl<S: Sink> Ordered<'_, S> {
    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        value.serialize(Encoder {
            out: &mut *self.out,
        })
    }

    #[inline]
    fn close(self) -> Result<(), KeyError> {
        self.out.put(END);
        Ok(())
    }
}

macro_rules! ordered_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl<S: Sink> ser::$trait for Ordered<'_, S> {
            type Ok = ();
            type Error = KeyError;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
                self.element(value)
            }
            #[inline]
            fn end(self) -> Result<(), KeyError> {
                self.close()
            }
        }
    )*};
}

ordered_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<S: Sink> ser::SerializeStruct for Ordered<'_, S> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.element(value)
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), KeyError> {
        // A skipped field still takes its place, so that skipping one field
        // can never make two different structs encode alike.
        self.out.put(UNIT);
        Ok(())
    }
    fn end(self) -> Result<(), KeyError> {
        self.close()
    }
}

impl<S: Sink> ser::SerializeStructVariant for Ordered<'_, S> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.element(value)
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), KeyError> {
        // As for structs: a skipped field still takes its place.
        self.out.put(UNIT);
        Ok(())
    }
    fn end(self) -> Result<(), KeyError> {
        self.close()
    }
}

/// Maps and sets: each entry is encoded on its own, the entries are sorted by
/// their bytes, and only then written out, so insertion order and hasher seed
/// never reach the key.
pub(crate) struct Unordered<'a, S: Sink> {
    out: &'a mut S,
    tag: u8,
    arena: Vec<u8>,
    /// `(start, end)` of each finished entry in `arena`.
    entries: Vec<(usize, usize)>,
    /// Where the entry being written started (a map key waits for its value).
    open: usize,
}

impl<'a, S: Sink> Unordered<'a, S> {
    fn new(out: &'a mut S, tag: u8) -> Self {
        Unordered {
            out,
            tag,
            arena: Vec::new(),
            entries: Vec::new(),
            open: 0,
        }
    }

    fn entry<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let start = self.arena.len();
        encode_into(&mut self.arena, value)?;
        self.entries.push((start, self.arena.len()));
        Ok(())
    }

    fn finish(mut self) {
        let arena = &self.arena;
        self.entries
            .sort_unstable_by(|&(a0, a1), &(b0, b1)| arena[a0..a1].cmp(&arena[b0..b1]));
        self.out.put(self.tag);
        for &(start, end) in &self.entries {
            self.out.put_all(&arena[start..end]);
        }
        self.out.put(END);
    }
}

impl<S: Sink> ser::SerializeMap for Unordered<'_, S> {
    type Ok = ();
    type Error = KeyError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        self.open = self.arena.len();
        encode_into(&mut self.arena, key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        encode_into(&mut self.arena, value)?;
        self.entries.push((self.open, self.arena.len()));
        Ok(())
    }

    fn end(self) -> Result<(), KeyError> {
        self.finish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
    fn sets_are_recognised_by_type_and_sequences_are_not() {
        assert!(is_set::<&HashSet<u64>>());
        assert!(is_set::<&BTreeSet<String>>());
        assert!(!is_set::<&Vec<HashSet<u64>>>());
        assert!(!is_set::<&[u64]>());
        assert!(!is_set::<&[HashSet<u64>]>());
        assert!(!is_set::<&[(BTreeSet<u64>, u8)]>());
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
}
