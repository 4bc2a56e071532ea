//! Canonical cache keys.

mod buf;
mod encoder;
mod id;
mod namespace;
mod probe;

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use buf::INLINE_BYTES;
pub(crate) use buf::KeyBuf;
use encoder::{AS_SET, begin_tuple, encode_at, encode_into, end_compound};
pub(crate) use id::KeyId;
pub(crate) use namespace::{NamespaceLen, PackedNamespace};
pub(crate) use probe::{KeyHasher, Probe, SHARDS, shard_of};

/// Encodings up to this many bytes are the key's identity as they are;
/// longer ones are replaced by their SHA-256 digest.
const VERBATIM_MAX: usize = INLINE_BYTES;

/// First byte of a digest identity. No encoded value starts with it, so a
/// digest never equals a verbatim identity.
const DIGEST_MARK: u8 = 0xFE;

/// How deeply a key's value may nest: at most this many compound levels, one
/// inside the other (serde_json's default limit for reading).
///
/// Every level counts: sequences, tuples, tuple structs, structs, maps, sets,
/// enum variants with a payload, `Some`, and newtype structs (transparent in
/// the key's bytes, but a recursive type can nest through them alone, as in
/// `struct List(Option<Box<List>>)`). Unit values and unit variants do not.
/// A plain `Vec<u64>` is one level; a `Vec<Option<Point>>` three.
///
/// Encoding recurses once per level, so this bound is what keeps keying a
/// deeply nested value (a parsed JSON document, a linked list) from
/// overflowing the stack: a value nested deeper gets a [`KeyError`] instead,
/// and a memoized call with such an argument runs uncached.
///
/// ```
/// use memo_runtime::{CacheKey, KEY_MAX_DEPTH};
/// use serde::Serialize;
///
/// /// A `Vec` of `Vec`s of ...: one level each (`transparent`: no newtype).
/// #[derive(Serialize)]
/// #[serde(transparent)]
/// struct Tree(Vec<Tree>);
///
/// fn nested(levels: usize) -> Tree {
///     let mut tree = Tree(Vec::new());
///     for _ in 1..levels {
///         tree = Tree(vec![tree]);
///     }
///     tree
/// }
///
/// assert!(CacheKey::try_of(&nested(KEY_MAX_DEPTH)).is_ok());
/// let err = CacheKey::try_of(&nested(KEY_MAX_DEPTH + 1)).unwrap_err();
/// assert!(err.to_string().contains("KEY_MAX_DEPTH"));
/// ```
pub const KEY_MAX_DEPTH: usize = 128;

/// The canonical key of a value: the key an [`AsyncCache`](crate::AsyncCache)
/// files it under.
///
/// A key is a *namespace* (for a memoized function, its module path and name;
/// empty for [`CacheKey::of`]) and an *identity* derived from the value's serde
/// data model.
///
/// # Guarantees
///
/// - **Equal values give equal keys.** Maps and sets are canonicalised at any
///   depth (`HashMap`, `BTreeMap`, `HashSet`, `BTreeSet`, `IndexSet`), so
///   insertion order and hasher seeds do not matter; `&str` and `String` agree;
///   integers agree by value whatever their width (`1u8` and `1u64`); `f32` and
///   `f64` agree by value, `-0.0` equals `0.0`, and every NaN is one key.
///   Newtype structs are transparent (`UserId(7)` keys like `7`).
/// - **Different values give different keys.** The identity is the canonical
///   encoding itself when it is at most 128 bytes long and its SHA-256 digest
///   otherwise. No 64-bit hash ever decides equality. Where no canonical form
///   exists the key keeps the order things were written in, so that equal
///   values may at worst miss each other, never different ones hit: a map
///   that repeats a key (a `#[serde(flatten)]`ed map beside a field of the
///   same name) keeps its entries in the order serialized.
/// - **Names are not encoded.** Two structs with the same field values in the
///   same order key alike, as in most serde formats; within one function the
///   signature fixes the types, and the namespace keeps functions apart. See
///   [below](#types-that-share-keys-on-purpose) for every such case.
/// - **One blind spot: a skipped positional field.** When
///   `skip_serializing_if` skips a field of a *tuple* struct or tuple variant,
///   serde tells the serializer nothing (no `skip_field` call, only a shorter
///   length), so no encoder can mark it: with both fields skipped when zero,
///   `P(0, 5)` and `P(5, 0)` key alike. A skipped *named* field is marked
///   (tag `0F` below) and has no such problem, so give key types that skip
///   fields named fields, or do not skip fields of key types.
/// - **Sets are recognised by type** (serde serializes sets and sequences
///   alike): std's `HashSet` and `BTreeSet`, hashbrown's `HashSet` and
///   indexmap's `IndexSet`, by their full paths. Any other collection, whatever
///   its name, is keyed in iteration order; wrap an unordered set of another
///   type in [`KeyAsSet`] to key it as a set.
/// - **Depth is bounded.** A value nested more than [`KEY_MAX_DEPTH`] (128)
///   levels deep has no key: [`CacheKey::try_of`] returns a [`KeyError`]
///   rather than overflowing the stack, and a memoized call runs uncached.
///
/// # Types that share keys on purpose
///
/// The key follows serde's data model, not Rust types, so values of different
/// types can share a key. Within one memoized function this never matters
/// (the signature fixes the types); in an [`AsyncCache`](crate::AsyncCache)
/// used directly with several key types, keys that agree below are one entry:
///
/// - **Integers by value**, across widths and signedness: `7u8`, `7u64`,
///   `7i32`, `7usize`, `7u128` and `NonZeroU64::new(7)` are one key; `-3i8`
///   and `-3i64` too. An integer never keys like a `bool`, `char` or float.
/// - **Floats by value**: `1.5f32` and `1.5f64`; `0.0` and `-0.0`; all NaNs.
///   (`0.1f32` is not the `f64` `0.1`, being a different number.)
/// - **Strings**: `&str`, `String`, `Box<str>`, `Cow<str>`. A `char` is not
///   a one-character string, and bytes (`Vec<u8>`, `&[u8]`) are a sequence of
///   integers, not a string.
/// - **Sequences**: `Vec<T>`, `&[T]`, `Box<[T]>`, `VecDeque<T>` and
///   `LinkedList<T>` with equal elements (integers of any width) are one key.
///   **Arrays are not sequences**: serde serializes `[T; N]` as a tuple, so
///   `[1, 2]` keys like `(1, 2)` and like a tuple struct `Pair(1, 2)`, not
///   like `vec![1, 2]`. `BinaryHeap` is a sequence in its internal order.
/// - **Maps**: `HashMap`, `BTreeMap` (and hashbrown's, indexmap's) with equal
///   entries. A struct with a `#[serde(flatten)]` field serializes as a map,
///   so it keys like the map of its field names (as strings) to values.
/// - **Sets**: `HashSet`, `BTreeSet` (and hashbrown's, indexmap's, and any
///   collection in a [`KeyAsSet`]) with equal elements. A set never keys like
///   a sequence.
/// - **Newtypes, references and boxes are transparent**: `UserId(7)`,
///   `Account(UserId(7))`, `&7`, `Box::new(7)` all key like `7`.
/// - **Structs by field values**, in order, whatever the struct's and fields'
///   names: `Point { x: 1, y: 2 }` keys like `Size { width: 1, height: 2 }`.
///   A struct keys neither like a tuple nor like a map. Fields marked
///   `#[serde(skip)]` are not in the key at all.
/// - **Unit values**: `()`, any unit struct, and a unit variant of an
///   `#[serde(untagged)]` enum.
/// - **`Option` by its contents**: every `None` is one key whatever `T`
///   (`None::<u8>` and `None::<String>`), `Some(1u8)` keys like `Some(1u64)`;
///   `Some(v)` never keys like `v`, nor `None` like `()`.
/// - **Enum variants by index and payload**, whatever the enum: the second
///   variant of one enum holding `3` keys like the second variant of another
///   holding `3`. A variant never keys like its bare payload (unless the enum
///   is `#[serde(untagged)]`, where serde writes the payload alone).
///
/// # Byte format
///
/// The format is stable across processes of the same build, which the shared
/// tier relies on. [`CacheKey::to_bytes`] writes the namespace's length as a
/// LEB128 varint, the namespace's UTF-8 bytes, then the identity. The identity
/// is either the encoding (at most 128 bytes), or `0xFE` followed by the 32-byte
/// SHA-256 of the encoding. The encoding of a value is one tag byte and a
/// payload:
///
/// | value | bytes |
/// |---|---|
/// | `()`, unit struct | `00` |
/// | `None` / `Some(v)` | `01` / `02` v |
/// | `false` / `true` | `03` / `04` |
/// | float (as `f64`, canonical bits) | `05` + 8 bytes LE |
/// | `char` | `06` + 4 bytes LE |
/// | string | `07` + varint length + UTF-8 |
/// | bytes (`serialize_bytes`) | `08` + varint length + bytes |
/// | sequence | `09` elements `FF` |
/// | tuple, tuple struct | `0A` elements `FF` |
/// | struct, struct variant's payload | `0B` fields `FF` |
/// | field skipped by `skip_serializing_if` | `0F` |
/// | map | `0C` (key value)... sorted by key bytes `FF`; in written order if two keys are equal |
/// | set | `0D` elements sorted bytewise `FF` |
/// | enum variant | `0E` + varint index + the payload as above |
/// | integer `n >= 0` | `20 + k`, then the `k` low bytes of `n` LE (`k` minimal) |
/// | integer `n < 0` | `40 + k`, then the `k` low bytes of `!n` LE |
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use memo_runtime::CacheKey;
///
/// let a: HashMap<&str, u32> = [("x", 1), ("y", 2)].into_iter().collect();
/// let b: HashMap<&str, u32> = [("y", 2), ("x", 1)].into_iter().collect();
/// assert_eq!(CacheKey::of(&a), CacheKey::of(&b));
/// assert_eq!(CacheKey::of("id-7"), CacheKey::of(&String::from("id-7")));
/// assert_ne!(CacheKey::of(&(1, 2)), CacheKey::of(&(2, 1)));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CacheKey {
    namespace: &'static str,
    id: KeyId,
}

impl CacheKey {
    /// The key of `value` in the empty namespace, as `AsyncCache::get(&value)`
    /// files it.
    ///
    /// # Panics
    ///
    /// If `value`'s `Serialize` implementation fails (for example a poisoned
    /// `Mutex`, or a custom impl that returns an error). Use
    /// [`CacheKey::try_of`] to get that error as a value.
    ///
    /// ```
    /// use memo_runtime::CacheKey;
    /// assert_eq!(CacheKey::of(&7u8), CacheKey::of(&7u64));
    /// ```
    pub fn of<T: Serialize + ?Sized>(value: &T) -> CacheKey {
        Self::try_of(value).unwrap_or_else(|err| panic!("{err}"))
    }

    /// The key of `value` in the empty namespace, or why it cannot be built.
    ///
    /// ```
    /// use memo_runtime::CacheKey;
    /// let key = CacheKey::try_of(&("user", 7)).unwrap();
    /// assert_eq!(key.namespace(), "");
    /// ```
    pub fn try_of<T: Serialize + ?Sized>(value: &T) -> Result<CacheKey, KeyError> {
        Self::try_in("", value)
    }

    /// The key of `value` in `namespace`. Keys of equal values in different
    /// namespaces differ; this is how memoized functions sharing one cache stay
    /// apart.
    ///
    /// ```
    /// use memo_runtime::CacheKey;
    /// let a = CacheKey::try_in("billing::invoice", &7).unwrap();
    /// let b = CacheKey::try_in("users::fetch", &7).unwrap();
    /// assert_ne!(a, b);
    /// assert_eq!(a.namespace(), "billing::invoice");
    /// ```
    pub fn try_in<T: Serialize + ?Sized>(
        namespace: &'static str,
        value: &T,
    ) -> Result<CacheKey, KeyError> {
        let buf = encode_identity(value)?;
        Ok(CacheKey::from_parts(namespace, &buf))
    }

    /// The namespace this key belongs to (`""` for [`CacheKey::of`]).
    ///
    /// ```
    /// assert_eq!(memo_runtime::CacheKey::of(&1).namespace(), "");
    /// ```
    pub fn namespace(&self) -> &'static str {
        self.namespace
    }

    /// Whether the identity is a SHA-256 digest (the encoding was longer than
    /// 128 bytes) rather than the encoding itself.
    ///
    /// ```
    /// use memo_runtime::CacheKey;
    /// assert!(!CacheKey::of(&42u64).is_digest());
    /// assert!(CacheKey::of(&"x".repeat(500)).is_digest());
    /// ```
    pub fn is_digest(&self) -> bool {
        self.id.first() == Some(&DIGEST_MARK)
    }

    /// The stable byte form of the key (see the format above): the namespace,
    /// length-prefixed, then the identity.
    ///
    /// ```
    /// use memo_runtime::CacheKey;
    /// let key = CacheKey::try_in("m::f", &1u64).unwrap();
    /// assert_eq!(key.to_bytes(), b"\x04m::f\x21\x01");
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.namespace.len() + self.id.len() + 2);
        let mut len = self.namespace.len() as u64;
        while len >= 0x80 {
            out.push(len as u8 | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(self.namespace.as_bytes());
        out.extend_from_slice(&self.id);
        out
    }

    #[inline]
    pub(crate) fn from_parts(namespace: &'static str, id: &[u8]) -> CacheKey {
        CacheKey {
            namespace,
            id: KeyId::from_slice(id),
        }
    }

    pub(crate) fn id(&self) -> &[u8] {
        &self.id
    }

    /// The namespace and the identity, for an entry to keep its own way.
    #[inline(always)]
    pub(crate) fn into_parts(self) -> (&'static str, KeyId) {
        (self.namespace, self.id)
    }

    /// Whether this key is `(namespace, id)`: the comparison a lookup makes
    /// without building a `CacheKey`.
    #[inline(always)]
    pub(crate) fn matches(&self, namespace: &str, id: &[u8]) -> bool {
        // A function's namespace is one interned `&'static str`, so the
        // pointers are equal on the hit path and the text compare (a
        // `memcmp` call, the length being unknown) is the rare fallback.
        bytes_eq(&self.id, id)
            && (std::ptr::eq(self.namespace, namespace)
                || namespaces_equal(self.namespace, namespace))
    }
}

/// The rare case of [`CacheKey::matches`], out of line so that the lookup's
/// comparison stays small enough to inline into the probe loop.
#[cold]
#[inline(never)]
fn namespaces_equal(a: &str, b: &str) -> bool {
    a == b
}

/// Slice equality without a `memcmp` call: two overlapping loads cover 4
/// to 16 bytes, and longer identities (up to the 128 of a verbatim
/// encoding) are compared 16 bytes a step, the last step overlapping. The
/// call cost a compound key's hit as much as the comparison itself.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let len = a.len();
    let u64_at = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
    let u32_at = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap());
    match len {
        8..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, len - 8) == u64_at(b, len - 8),
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, len - 4) == u32_at(b, len - 4),
        // The first, middle and last bytes cover every length from 1 to 3
        // (a `u64` key below 256 is 2 bytes) without a loop.
        1..=3 => a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1],
        0 => true,
        _ => {
            let u128_at =
                |s: &[u8], at: usize| u128::from_ne_bytes(s[at..at + 16].try_into().unwrap());
            let mut at = 0;
            while at + 16 < len {
                if u128_at(a, at) != u128_at(b, at) {
                    return false;
                }
                at += 16;
            }
            u128_at(a, len - 16) == u128_at(b, len - 16)
        }
    }
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.namespace.as_bytes());
        state.write(&self.id);
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({:?}, ", self.namespace)?;
        for byte in self.id.iter() {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// Turns an encoding into its identity in place: short encodings stay as they
/// are (so a cache hit never allocates), long ones become `0xFE` + SHA-256.
#[inline(always)]
pub(crate) fn into_identity(buf: &mut KeyBuf) {
    if buf.len() > VERBATIM_MAX {
        replace_with_digest(buf);
    }
}

#[cold]
fn replace_with_digest(buf: &mut KeyBuf) {
    let mut identity = [DIGEST_MARK; 33];
    identity[1..].copy_from_slice(&Sha256::digest(&buf[..]));
    buf.replace(&identity);
}

/// Encodes `value` and reduces it to its identity.
#[inline(always)]
pub(crate) fn encode_identity<T: Serialize + ?Sized>(value: &T) -> Result<KeyBuf, KeyError> {
    let mut buf = KeyBuf::new();
    encode_into(&mut buf, value)?;
    into_identity(&mut buf);
    Ok(buf)
}

/// Builds a key from a function's key arguments one at a time, with the
/// bytes `encode_identity(&(a, b, ...))` would give (for one argument, those
/// of the argument itself). Generated code calls [`KeyParts::part`] once per
/// argument, so a missing `Serialize` is reported at that argument. It is
/// finished in place: the buffer is never moved on the hit path.
pub(crate) struct KeyParts {
    buf: KeyBuf,
    tuple: bool,
    error: Option<KeyError>,
}

impl KeyParts {
    #[inline(always)]
    pub(crate) fn new(parts: usize) -> Self {
        let mut buf = KeyBuf::new();
        let tuple = parts != 1;
        if tuple {
            begin_tuple(&mut buf);
        }
        KeyParts {
            buf,
            tuple,
            error: None,
        }
    }

    #[inline(always)]
    pub(crate) fn part<T: Serialize + ?Sized>(&mut self, value: &T) {
        // Inside the tuple, a part is one level deep, as in `(a, b)`.
        if let Err(err) = encode_at(&mut self.buf, value, usize::from(self.tuple)) {
            self.error.get_or_insert(err);
        }
    }

    /// Closes the key and reduces it to its identity; call once.
    #[inline(always)]
    pub(crate) fn finish(&mut self) {
        if self.tuple {
            end_compound(&mut self.buf);
        }
        into_identity(&mut self.buf);
    }

    /// The finished identity, or why the key could not be built.
    #[inline(always)]
    pub(crate) fn identity(&self) -> Result<&[u8], &KeyError> {
        match &self.error {
            None => Ok(&self.buf),
            Some(err) => Err(err),
        }
    }
}

/// Keys a collection as a set: the same elements in any order give one key.
///
/// serde serializes sets and sequences alike, so [`CacheKey`] recognises sets
/// by type: std's `HashSet` and `BTreeSet`, hashbrown's `HashSet` and
/// indexmap's `IndexSet`, exactly. Any other collection, whatever its name, is
/// keyed in iteration order, which for an unordered set of your own (or of
/// another crate) means equal sets may miss each other. Wrap it in
/// `KeyAsSet` to key it as a set: the sequence its `Serialize` writes
/// (`collect_seq`, `serialize_seq`, or `serialize_tuple` for an array) is
/// sorted like a `HashSet`'s, so it keys like a `HashSet` of the same
/// elements.
///
/// Repeated elements are kept (the key of a multiset). Only the sequence
/// itself is a set, not sequences nested in its elements. To every other
/// serializer `KeyAsSet(&x)` is a newtype struct around `x`, which formats
/// such as JSON write as `x` itself.
///
/// ```
/// use std::collections::HashSet;
/// use memo_runtime::{CacheKey, KeyAsSet};
///
/// let a = vec!["b", "a", "c"];
/// let b = vec!["c", "b", "a"];
/// assert_ne!(CacheKey::of(&a), CacheKey::of(&b));
/// assert_eq!(CacheKey::of(&KeyAsSet(&a)), CacheKey::of(&KeyAsSet(&b)));
/// let set: HashSet<&str> = ["a", "b", "c"].into();
/// assert_eq!(CacheKey::of(&KeyAsSet(&a)), CacheKey::of(&set));
/// ```
///
/// In a memoized function, key on the wrapped argument with `key = ...`:
///
/// ```
/// use memo_runtime::{KeyAsSet, cached};
///
/// /// Tags in no particular order.
/// #[derive(serde::Serialize)]
/// struct Tags(Vec<String>);
///
/// #[cached(key = KeyAsSet(tags))]
/// async fn count_posts(tags: &Tags) -> usize {
///     tags.0.len() // a query, in real life
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// count_posts(&Tags(vec!["rust".into(), "async".into()])).await;
/// count_posts(&Tags(vec!["async".into(), "rust".into()])).await;
/// assert_eq!(count_posts::stats().hits, 1);
/// # }
/// ```
#[derive(Debug)]
pub struct KeyAsSet<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> Clone for KeyAsSet<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for KeyAsSet<'_, T> {}

impl<T: Serialize + ?Sized> Serialize for KeyAsSet<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(AS_SET, self.0)
    }
}

/// A value's key could not be built: its `Serialize` implementation failed,
/// or it is nested more than [`KEY_MAX_DEPTH`] levels deep.
///
/// memo never guesses a key: a memoized call whose arguments cannot be keyed
/// runs its body without the cache (counted in
/// [`CacheStats::key_errors`](crate::CacheStats::key_errors)), and
/// [`CacheKey::try_of`] returns this error.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use memo_runtime::CacheKey;
///
/// let shared = Arc::new(Mutex::new(1));
/// let clone = shared.clone();
/// let _ = std::thread::spawn(move || {
///     let _guard = clone.lock().unwrap();
///     panic!("poison the mutex");
/// })
/// .join();
/// let err = CacheKey::try_of(&*shared).unwrap_err();
/// assert!(err.to_string().contains("poison"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    // A boxed `str`, not a `String`: the encoder's every
    // `Result<(), KeyError>` is two words, returned in registers rather
    // than through memory (59 instructions fewer on workload 2's hit).
    message: Box<str>,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memo: cannot build a cache key: {}; make the argument's `Serialize` \
             implementation infallible, leave the argument out of the key with \
             `skip(...)`, or choose the key with `key = ...`",
            self.message
        )
    }
}

impl std::error::Error for KeyError {}

impl serde::ser::Error for KeyError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        KeyError {
            message: msg.to_string().into(),
        }
    }
}

#[cfg(test)]
mod tests;
