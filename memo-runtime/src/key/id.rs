//! A key's identity bytes in two words: every stored entry and every load
//! in flight holds one, so its size is paid per entry.
//!
//! Up to 15 bytes (any integer key, a short string) are kept inline after
//! their count, in the first byte; longer ones (up to the 128 of a verbatim
//! encoding, or a digest's 33) are on the heap, and the first byte says so.
//! A `SmallVec<[u8; 16]>` held 16 inline but took three words.
//!
//! The two words are a plain integer and a pointer, not a union or an enum:
//! a struct of two scalars moves in two registers, where the compiler moved
//! the others through memory, in pieces that the loads after them waited
//! for (a miss 100 to 110-125 ns).

use std::ops::Deref;
use std::ptr;

/// At most this many bytes are kept inline.
pub(crate) const INLINE_ID: usize = 15;

/// The first byte of a heap identity (an inline one's is its count).
const HEAP: u8 = 0xFF;

/// An identity: inline up to [`INLINE_ID`] bytes, on the heap beyond.
///
/// Invariant: inline, the memory of the two words is the count (at most
/// [`INLINE_ID`]) and then the bytes, and `rest` has no provenance; on the
/// heap, `first`'s first byte in memory is [`HEAP`], its other seven the
/// length (little-endian), and `rest` points to that many bytes, a
/// `Box<[u8]>` that this value owns.
#[repr(C)]
pub(crate) struct KeyId {
    first: u64,
    rest: *mut u8,
}

impl KeyId {
    /// The identity of the `len` (at most [`INLINE_ID`]) low bytes of
    /// `bytes`, little-endian; the bytes past `len` are not part of it.
    #[inline(always)]
    pub(crate) fn inline(bytes: u128, len: usize) -> KeyId {
        debug_assert!(len <= INLINE_ID);
        let count = (len as u8).min(INLINE_ID as u8);
        Self::from_memory((bytes << 8 | u128::from(count)).to_le_bytes())
    }

    /// A copy of `id`, of any length.
    #[inline(always)]
    pub(crate) fn from_slice(id: &[u8]) -> KeyId {
        if id.len() <= INLINE_ID {
            let mut memory = [0; 16];
            memory[0] = id.len() as u8;
            memory[1..=id.len()].copy_from_slice(id);
            return Self::from_memory(memory);
        }
        Self::on_heap(id)
    }

    /// The inline form whose memory is `memory`.
    #[inline(always)]
    fn from_memory(memory: [u8; 16]) -> KeyId {
        let word = |at: usize| u64::from_ne_bytes(memory[at..at + 8].try_into().unwrap());
        KeyId {
            first: word(0),
            rest: ptr::without_provenance_mut(word(8) as usize),
        }
    }

    #[cold]
    fn on_heap(id: &[u8]) -> KeyId {
        // Seven bytes of length cover any slice.
        let first = u64::from(HEAP) | (id.len() as u64) << 8;
        KeyId {
            first: first.to_le(),
            rest: Box::into_raw(Box::<[u8]>::from(id)).cast(),
        }
    }

    /// Whether the bytes are on the heap.
    #[inline(always)]
    pub(crate) fn is_heap(&self) -> bool {
        u64::from_le(self.first) as u8 == HEAP
    }

    /// The heap form's bytes, as the pointer that owns them.
    #[inline(always)]
    fn heap(&self) -> Option<*mut [u8]> {
        self.is_heap().then(|| {
            let len = (u64::from_le(self.first) >> 8) as usize;
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
        // SAFETY: the inline form: 16 bytes of plain integers (`rest` has
        // no provenance), the first their count.
        let memory = unsafe { &*ptr::from_ref(self).cast::<[u8; 16]>() };
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
        assert_eq!(size_of::<KeyId>(), 2 * size_of::<u64>());
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
    fn an_inline_identity_keeps_only_its_own_bytes() {
        let all: Vec<u8> = (1..=INLINE_ID as u8).collect();
        for len in 0..=INLINE_ID {
            let mut bytes = [0xEE; 16];
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
