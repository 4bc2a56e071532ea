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

mod compound;

use compound::{Elements, Ordered, Unordered};

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
    /// `tag`, then the `len` low bytes of `value`, little-endian.
    #[inline]
    fn put_tagged_le_u64(&mut self, tag: u8, value: u64, len: usize) {
        self.put(tag);
        self.put_le_u64(value, len);
    }
    /// `tag`, then the length of `bytes` (at most [`SHORT`], so a one-byte
    /// varint), then `bytes`.
    #[inline]
    fn put_short_prefixed(&mut self, tag: u8, bytes: &[u8]) {
        put_prefixed_below_0x80(self, tag, bytes);
    }
}

/// `tag`, the length of `bytes` (below `0x80`, so a one-byte varint) and
/// `bytes`; the tag and the length in one write, which makes the same bytes.
#[inline(always)]
pub(crate) fn put_prefixed_below_0x80<S: Sink + ?Sized>(out: &mut S, tag: u8, bytes: &[u8]) {
    debug_assert!(bytes.len() < 0x80);
    out.put_le_u64(u64::from(tag) | (bytes.len() as u64) << 8, 2);
    out.put_all(bytes);
}

/// The longest string or byte string whose tag, length and bytes fit in 16.
pub(crate) const SHORT: usize = 14;

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
        )
        .into(),
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
        match u64::try_from(v) {
            Ok(small) => self.out.put_tagged_le_u64(INT_POS + len as u8, small, len),
            Err(_) => {
                self.out.put(INT_POS + len as u8);
                self.out.put_all(&v.to_le_bytes()[..len]);
            }
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
        match u64::try_from(magnitude) {
            Ok(small) => self.out.put_tagged_le_u64(INT_NEG + len as u8, small, len),
            Err(_) => {
                self.out.put(INT_NEG + len as u8);
                self.out.put_all(&magnitude.to_le_bytes()[..len]);
            }
        }
        Ok(())
    }

    /// A string or byte string: its tag, its length and its bytes, inlined
    /// where it is serialized. A call per string was a tenth of a compound
    /// key's hit (`tag_hits`: 661 to 589 instructions); with the long case
    /// left a call, 612.
    #[inline(always)]
    fn len_prefixed(self, tag: u8, bytes: &[u8]) -> Result<(), KeyError> {
        if bytes.len() <= SHORT {
            self.out.put_short_prefixed(tag, bytes);
            return Ok(());
        }
        if bytes.len() < 0x80 {
            put_prefixed_below_0x80(self.out, tag, bytes);
        } else {
            self.out.put(tag);
            put_varint(self.out, bytes.len() as u64);
            self.out.put_all(bytes);
        }
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
    /// as `uint` writes. Always inlined: the hit path of a `u64` key is
    /// this, a hash and a probe.
    #[inline(always)]
    fn serialize_u64(self, v: u64) -> Result<(), KeyError> {
        let len = (64 - v.leading_zeros() as usize).div_ceil(8);
        self.out.put_tagged_le_u64(INT_POS + len as u8, v, len);
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
    /// Inlined into the key's encoder, with [`Self::len_prefixed`]: see
    /// there.
    #[inline(always)]
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

#[cfg(test)]
mod tests;
