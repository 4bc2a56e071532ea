//! The compound values of the encoder: sequences, tuples and structs in
//! order ([`Ordered`]), and maps and sets canonicalised by sorting their
//! encoded entries ([`Unordered`]).

use super::*;

/// Sequences, tuples and structs: elements in order, then [`END`].
pub(crate) struct Ordered<'a, S: Sink> {
    pub(super) out: &'a mut S,
    /// The depth of this compound value (of its elements' surroundings).
    pub(super) depth: usize,
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
    entries: Vec<ArenaEntry>,
    /// The entry being written: where it started and, once the key of a map
    /// entry is written, where that key ended.
    open: usize,
    key_end: usize,
}

/// An entry in the arena: `arena[start..key_end]` is its key (for a set, the
/// whole element), `arena[key_end..end]` its value.
#[derive(Clone, Copy)]
struct ArenaEntry {
    start: usize,
    key_end: usize,
    end: usize,
}

impl<'a, S: Sink> Unordered<'a, S> {
    pub(super) fn new(out: &'a mut S, tag: u8, depth: usize) -> Self {
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
    pub(super) fn entry<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let start = self.arena.len();
        encode_at(&mut self.arena, value, self.depth)?;
        let end = self.arena.len();
        self.entries.push(ArenaEntry {
            start,
            key_end: end,
            end,
        });
        Ok(())
    }

    pub(super) fn finish(mut self) {
        let arena = &self.arena;
        let key = |entry: &ArenaEntry| &arena[entry.start..entry.key_end];
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
        self.entries.push(ArenaEntry {
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
