//! The canonical key encoder: a `serde::Serializer` that streams a value's data
//! model into a self-delimiting byte string.
//!
//! The format is documented on [`crate::CacheKey`]. Every encoded value starts
//! with a tag byte, strings carry their length, and compound values end with
//! [`END`], so encodings are prefix-free: two different values never encode to
//! the same bytes, and a concatenation of encodings splits back one way only.
//! That is what lets maps and sets be canonicalised by sorting their encoded
//! entries: comparing two encoded map entries compares their keys first.
//! Encoding recurses once per compound level, so the depth is counted and
//! bounded by [`KEY_MAX_DEPTH`], also inside the scratch encoders of map and
//! set entries.

use serde::ser::{self, Serialize};

use super::{KEY_MAX_DEPTH, KeyError};

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
/// A struct field left out by `skip_serializing_if`: it keeps its place, and
/// no value encodes like it.
const SKIPPED: u8 = 0x0F;
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

/// The name of the newtype struct [`crate::KeyAsSet`] serializes as. The
/// encoder keys the sequence inside it as a set; other serializers see an
/// ordinary newtype around an ordinary sequence.
pub(crate) const AS_SET: &str = "$memo_runtime::KeyAsSet";

/// Encodes `value` canonically, appending to `out`.
#[inline]
pub(crate) fn encode_into<S, T>(out: &mut S, value: &T) -> Result<(), KeyError>
where
    S: Sink,
    T: Serialize + ?Sized,
{
    encode_at(out, value, 0)
}

/// Encodes `value`, which sits inside `depth` compound levels.
#[inline]
pub(crate) fn encode_at<S, T>(out: &mut S, value: &T, depth: usize) -> Result<(), KeyError>
where
    S: Sink,
    T: Serialize + ?Sized,
{
    value.serialize(Encoder::at(out, depth))
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

/// The set types whose iteration order means nothing, by the full path
/// `std::any::type_name` gives them (a hash set's order depends on its
/// hasher's seed; `IndexSet`s compare equal in any order).
const SET_TYPES: [&str; 4] = [
    "std::collections::hash::set::HashSet<",
    "alloc::collections::btree::set::BTreeSet<",
    "hashbrown::set::HashSet<",
    "indexmap::set::IndexSet<",
];

/// Whether a collection handed to `collect_seq` is one of [`SET_TYPES`].
///
/// serde serializes sets and sequences alike, so the type is the only clue.
/// Only these exact types are sets: a type of another crate, or the user's
/// own, is encoded in iteration order (a miss at worst, never a wrong hit)
/// unless it is wrapped in [`crate::KeyAsSet`].
#[inline]
fn is_set<I>() -> bool {
    is_set_name(std::any::type_name::<I>())
}

#[inline]
fn is_set_name(name: &str) -> bool {
    let name = name.trim_start_matches('&');
    // The first byte picks the one candidate: slices, `Vec`s and tuples, the
    // common sequences, are told apart without comparing whole paths.
    let candidate = match name.as_bytes().first() {
        Some(b's') => SET_TYPES[0],
        Some(b'a') => SET_TYPES[1],
        Some(b'h') => SET_TYPES[2],
        Some(b'i') => SET_TYPES[3],
        _ => return false,
    };
    name.starts_with(candidate)
}

/// The error for a value nested deeper than [`KEY_MAX_DEPTH`].
#[cold]
#[inline(never)]
fn too_deep() -> KeyError {
    KeyError {
        message: format!(
            "the value is nested more than {KEY_MAX_DEPTH} levels deep \
             (memo_runtime::KEY_MAX_DEPTH)"
        ),
    }
}

/// The serializer. It borrows its sink, so nested values write to the same place.
pub(crate) struct Encoder<'a, S: Sink> {
    out: &'a mut S,
    /// How many compound levels (sequences, maps, structs, variants with a
    /// payload, `Some`, newtypes) are open around this value.
    depth: usize,
    /// The value is the inside of a [`crate::KeyAsSet`]: its sequence is a set.
    as_set: bool,
}

impl<'a, S: Sink> Encoder<'a, S> {
    #[inline(always)]
    fn at(out: &'a mut S, depth: usize) -> Self {
        Encoder {
            out,
            depth,
            as_set: false,
        }
    }

    /// The depth of a value one level inside this one, if that is allowed.
    #[inline(always)]
    fn deeper(&self) -> Result<usize, KeyError> {
        if self.depth < KEY_MAX_DEPTH {
            Ok(self.depth + 1)
        } else {
            Err(too_deep())
        }
    }

    /// The encoder of a value one level inside this one.
    #[inline(always)]
    fn inner(self) -> Result<Encoder<'a, S>, KeyError> {
        let depth = self.deeper()?;
        Ok(Encoder::at(self.out, depth))
    }

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
    fn ordered(self, tag: u8) -> Result<Ordered<'a, S>, KeyError> {
        let depth = self.deeper()?;
        self.out.put(tag);
        Ok(Ordered {
            out: self.out,
            depth,
        })
    }

    #[inline]
    fn unordered(self, tag: u8) -> Result<Unordered<'a, S>, KeyError> {
        let depth = self.deeper()?;
        Ok(Unordered::new(self.out, tag, depth))
    }

    /// A sequence or tuple: in order, unless it is the inside of a
    /// [`crate::KeyAsSet`].
    #[inline]
    fn elements(self, tag: u8) -> Result<Elements<'a, S>, KeyError> {
        if self.as_set {
            self.unordered(SET).map(Elements::Set)
        } else {
            self.ordered(tag).map(Elements::Ordered)
        }
    }
}

impl<'a, S: Sink> ser::Serializer for Encoder<'a, S> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Elements<'a, S>;
    type SerializeTuple = Elements<'a, S>;
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
        let inner = self.inner()?;
        inner.out.put(SOME);
        value.serialize(inner)
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
    /// Newtypes are transparent: `UserId(7)` and `7` give the same key. They
    /// count as a level of depth all the same, as `Some` does: a recursive
    /// type can nest through them alone (`struct L(Option<Box<L>>)`).
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        let as_set = self.as_set || name == AS_SET;
        let mut inner = self.inner()?;
        inner.as_set = as_set;
        value.serialize(inner)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.variant(index);
        value.serialize(self.inner()?)
    }
    #[inline]
    fn serialize_seq(self, _len: Option<usize>) -> Result<Elements<'a, S>, KeyError> {
        self.elements(SEQ)
    }
    #[inline]
    fn serialize_tuple(self, _len: usize) -> Result<Elements<'a, S>, KeyError> {
        self.elements(TUPLE)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Ordered<'a, S>, KeyError> {
        self.ordered(TUPLE)
    }
    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Ordered<'a, S>, KeyError> {
        self.variant(index);
        self.ordered(TUPLE)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Unordered<'a, S>, KeyError> {
        self.unordered(MAP)
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Ordered<'a, S>, KeyError> {
        self.ordered(STRUCT)
    }
    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Ordered<'a, S>, KeyError> {
        self.variant(index);
        self.ordered(STRUCT)
    }

    #[inline]
    fn collect_seq<I>(self, iter: I) -> Result<(), KeyError>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        if self.as_set || is_set::<I>() {
            let mut set = self.unordered(SET)?;
            for item in iter {
                set.entry(&item)?;
            }
            set.finish();
        } else {
            let depth = self.deeper()?;
            self.out.put(SEQ);
            for item in iter {
                item.serialize(Encoder::at(&mut *self.out, depth))?;
            }
            self.out.put(END);
        }
        Ok(())
    }
}

/// Sequences, tuples and structs: elements in order, then [`END`].
pub(crate) struct Ordered<'a, S: Sink> {
    out: &'a mut S,
    /// The depth of this compound value (of its elements' surroundings).
    depth: usize,
}

impl<S: Sink> Ordered<'_, S> {
    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        value.serialize(Encoder::at(&mut *self.out, self.depth))
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
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// A sequence or tuple: [`Ordered`], or a set when it is the inside of a
/// [`crate::KeyAsSet`].
pub(crate) enum Elements<'a, S: Sink> {
    Ordered(Ordered<'a, S>),
    Set(Unordered<'a, S>),
}

impl<S: Sink> Elements<'_, S> {
    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        match self {
            Elements::Ordered(ordered) => ordered.element(value),
            Elements::Set(set) => set.entry(value),
        }
    }

    #[inline]
    fn close(self) -> Result<(), KeyError> {
        match self {
            Elements::Ordered(ordered) => ordered.close(),
            Elements::Set(set) => {
                set.finish();
                Ok(())
            }
        }
    }
}

macro_rules! elements_impl {
    ($($trait:ident),*) => {$(
        impl<S: Sink> ser::$trait for Elements<'_, S> {
            type Ok = ();
            type Error = KeyError;
            #[inline]
            fn serialize_element<T: Serialize + ?Sized>(
                &mut self,
                value: &T,
            ) -> Result<(), KeyError> {
                self.element(value)
            }
            #[inline]
            fn end(self) -> Result<(), KeyError> {
                self.close()
            }
        }
    )*};
}

elements_impl!(SerializeSeq, SerializeTuple);

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
        // A skipped field still takes its place, with a tag of its own, so
        // that skipping one field can never make two different structs
        // encode alike (not even when the field's value could be `()`).
        self.out.put(SKIPPED);
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
        self.out.put(SKIPPED);
        Ok(())
    }
    fn end(self) -> Result<(), KeyError> {
        self.close()
    }
}

/// Maps and sets: each entry is encoded on its own, the entries are sorted by
/// their keys' bytes (a set's element is its own key), and only then written
/// out, so insertion order and hasher seed never reach the key.
///
/// A map that repeats a key (a `#[serde(flatten)]`ed map beside a field of
/// the same name, or a custom `Serialize` writing pairs) has no canonical
/// order: which value came from where would be lost by sorting. Its entries
/// are written in the order they were serialized; equal maps may then miss
/// each other, but different ones never share a key.
pub(crate) struct Unordered<'a, S: Sink> {
    out: &'a mut S,
    tag: u8,
    /// The depth of this map or set (of its entries' surroundings).
    depth: usize,
    /// Every entry, encoded one after the other in the order written.
    arena: Vec<u8>,
    /// Where each finished entry lies in `arena`.
    entries: Vec<Entry>,
    /// The entry being written: where it started and, once the key of a map
    /// entry is written, where that key ended.
    open: usize,
    key_end: usize,
}

/// An entry in the arena: `arena[start..key_end]` is its key (for a set, the
/// whole element), `arena[key_end..end]` its value.
#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    key_end: usize,
    end: usize,
}

impl<'a, S: Sink> Unordered<'a, S> {
    fn new(out: &'a mut S, tag: u8, depth: usize) -> Self {
        Unordered {
            out,
            tag,
            depth,
            arena: Vec::new(),
            entries: Vec::new(),
            open: 0,
            key_end: 0,
        }
    }

    /// Encodes one element of a set.
    fn entry<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let start = self.arena.len();
        encode_at(&mut self.arena, value, self.depth)?;
        let end = self.arena.len();
        self.entries.push(Entry {
            start,
            key_end: end,
            end,
        });
        Ok(())
    }

    fn finish(mut self) {
        let arena = &self.arena;
        let key = |entry: &Entry| &arena[entry.start..entry.key_end];
        self.entries.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        // Equal set elements are equal bytes, in whatever order; equal map
        // keys may have different values.
        let repeated_keys =
            self.tag == MAP && self.entries.windows(2).any(|w| key(&w[0]) == key(&w[1]));
        self.out.put(self.tag);
        if repeated_keys {
            // The arena holds the entries in the order they were written.
            self.out.put_all(arena);
        } else {
            for entry in &self.entries {
                self.out.put_all(&arena[entry.start..entry.end]);
            }
        }
        self.out.put(END);
    }
}

impl<S: Sink> ser::SerializeMap for Unordered<'_, S> {
    type Ok = ();
    type Error = KeyError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        self.open = self.arena.len();
        encode_at(&mut self.arena, key, self.depth)?;
        self.key_end = self.arena.len();
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        encode_at(&mut self.arena, value, self.depth)?;
        self.entries.push(Entry {
            start: self.open,
            key_end: self.key_end,
            end: self.arena.len(),
        });
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
}
