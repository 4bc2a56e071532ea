//! A key's identity bytes in two words: every stored entry and every load
//! in flight holds one, so its size is paid per entry.
//!
//! Up to 15 bytes (any integer key, a short string; 7 where a pointer is 4
//! bytes) are kept inline after their count, in the first byte; longer ones
//! (up to the 128 of a verbatim encoding, or a digest's 33) are on the
//! heap, and the first byte says so.
//! A `SmallVec<[u8; 16]>` held 16 inline but took three words.
//!
//! The two words are a plain integer and a pointer, not a union or an enum:
//! a struct of two scalars moves in two registers, where the compiler moved
//! the others through memory, in pieces that the loads after them waited
//! for (a miss 100 to 110-125 ns).

use std::ops::Deref;
use std::ptr;

use super::buf::le_bytes;

/// A word: the layout is two of them, whatever the pointer width.
const WORD: usize = size_of::<usize>();

/// At most this many bytes are kept inline: 15 with 8-byte pointers.
pub(crate) const INLINE_ID: usize = 2 * WORD - 1;

/// The first byte of a heap identity (an inline one's is its count).
const HEAP: u8 = 0xFF;

/// An identity: inline up to [`INLINE_ID`] bytes, on the heap beyond.
///
/// Invariant: inline, the memory of the two words is the count (at most
/// [`INLINE_ID`]), then the bytes, then zeros, and `rest` has no
/// provenance; on the heap, `first`'s first byte in memory is [`HEAP`], its
/// others the length (little-endian), and `rest` points to that many
/// bytes, a `Box<[u8]>` that this value owns.
#[repr(C)]
pub(crate) struct KeyId {
    first: usize,
    rest: *mut u8,
}

// Two words and no padding: `Deref` reads the whole value as bytes.
const _: () = assert!(size_of::<KeyId>() == 2 * WORD && size_of::<*mut u8>() == WORD);

impl KeyId {
    /// The identity of the `len` low bytes of `bytes`, little-endian,
    /// whose other bytes are zero (as [`le_bytes`] gives them).
    ///
    /// # Panics
    ///
    /// If `len` is over [`INLINE_ID`]; callers check it first, which lets
    /// the compiler drop this check.
    #[inline(always)]
    fn inline(bytes: u128, len: usize) -> KeyId {
        assert!(len <= INLINE_ID, "an inline identity of {len} bytes");
        debug_assert!(
            len == 16 || bytes >> (8 * len) == 0,
            "bytes past the length"
        );
        let all = (bytes << 8 | len as u128).to_le_bytes();
        let mut memory = [0; 2 * WORD];
        memory.copy_from_slice(&all[..2 * WORD]);
        Self::from_memory(memory)
    }

    /// A copy of `id`, of any length. One that fits inline is gathered
    /// into two words in registers and stored as whole words: every miss
    /// builds one, a copy of unknown length is a `memcpy` call, and bytes
    /// stored one at a time and then read as a word stall the read until
    /// the stores complete.
    #[inline(always)]
    pub(crate) fn from_slice(id: &[u8]) -> KeyId {
        if id.len() <= INLINE_ID {
            return Self::inline(le_bytes(id), id.len());
        }
        Self::on_heap(id)
    }

    /// The inline form whose memory is `memory`.
    #[inline(always)]
    fn from_memory(memory: [u8; 2 * WORD]) -> KeyId {
        let word = |at: usize| usize::from_ne_bytes(memory[at..at + WORD].try_into().unwrap());
        KeyId {
            first: word(0),
            rest: ptr::without_provenance_mut(word(WORD)),
        }
    }

    #[cold]
    fn on_heap(id: &[u8]) -> KeyId {
        // The word less a byte: any slice where a pointer is 8 bytes, and
        // 16 MiB where it is 4 (an identity is at most 128 bytes, or a
        // digest's 33).
        assert!(
            id.len() <= usize::MAX >> 8,
            "an identity of {} bytes",
            id.len()
        );
        let first = usize::from(HEAP) | id.len() << 8;
        KeyId {
            first: first.to_le(),
            rest: Box::into_raw(Box::<[u8]>::from(id)).cast(),
        }
    }

    /// Whether the bytes are on the heap.
    #[inline(always)]
    pub(crate) fn is_heap(&self) -> bool {
        usize::from_le(self.first) as u8 == HEAP
    }

    /// The heap form's bytes, as the pointer that owns them.
    #[inline(always)]
    fn heap(&self) -> Option<*mut [u8]> {
        self.is_heap().then(|| {
            let len = usize::from_le(self.first) >> 8;
            ptr::slice_from_raw_parts_mut(self.rest, len)
        })
    }
}

impl Deref for KeyId {
    type Target = [u8];

    #[inline(always)]
    fn deref(&self) -> &[u8] {
        if let Some(heap) = self.heap() {
            // SAFETY: the heap form: `rest` owns this many bytes, which
            // live as long as `self`.
            return unsafe { &*heap };
        }
        // SAFETY: the inline form: two words of plain integers (`rest` has
        // no provenance) and no padding, the first byte their count.
        let memory = unsafe { &*ptr::from_ref(self).cast::<[u8; 2 * WORD]>() };
        &memory[1..=usize::from(memory[0]).min(INLINE_ID)]
    }
}

impl Clone for KeyId {
    #[inline]
    fn clone(&self) -> KeyId {
        if self.is_heap() {
            return Self::on_heap(self);
        }
        KeyId {
            first: self.first,
            rest: self.rest,
        }
    }
}

impl Drop for KeyId {
    #[inline]
    fn drop(&mut self) {
        if let Some(heap) = self.heap() {
            // SAFETY: the heap form, whose bytes this value owns, from
            // `Box::into_raw`, and which are not used again.
            drop(unsafe { Box::from_raw(heap) });
        }
    }
}

impl PartialEq for KeyId {
    fn eq(&self, other: &KeyId) -> bool {
        **self == **other
    }
}

impl Eq for KeyId {}

// SAFETY: a `KeyId` owns its bytes, inline or in a `Box<[u8]>`, and
// changes none of them through `&self`.
unsafe impl Send for KeyId {}
// SAFETY: as above.
unsafe impl Sync for KeyId {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_takes_two_words() {
        assert_eq!(size_of::<KeyId>(), 2 * size_of::<usize>());
    }

    #[test]
    fn every_length_reads_back_as_it_was_given() {
        let all: Vec<u8> = (1..=200).collect();
        for len in 0..=all.len() {
            let id = KeyId::from_slice(&all[..len]);
            assert_eq!(&*id, &all[..len], "length {len}");
            assert_eq!(id.is_heap(), len > INLINE_ID);
            let copy = id.clone();
            drop(id);
            assert_eq!(&*copy, &all[..len], "a copy outlives its original");
        }
    }

    #[test]
    fn an_inline_identity_equals_its_copy() {
        let all: Vec<u8> = (1..=INLINE_ID as u8).collect();
        for len in 0..=INLINE_ID {
            let mut bytes = [0; 16];
            bytes[..len].copy_from_slice(&all[..len]);
            let id = KeyId::inline(u128::from_le_bytes(bytes), len);
            assert_eq!(&*id, &all[..len], "length {len}");
            assert!(id == KeyId::from_slice(&all[..len]));
        }
    }

    #[test]
    fn identities_of_different_lengths_differ() {
        assert!(KeyId::from_slice(b"ab") != KeyId::from_slice(b"ab\0"));
        let long = [7u8; 40];
        assert!(KeyId::from_slice(&long) != KeyId::from_slice(&long[..39]));
        assert!(KeyId::from_slice(&long) == KeyId::from_slice(&long));
    }
}
