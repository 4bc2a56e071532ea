//! The buffer a key is encoded into on every call: on the stack for keys up
//! to [`INLINE_BYTES`], so a hit never allocates, and written without the
//! per-byte bookkeeping a general-purpose small vector does.

use std::mem::MaybeUninit;
use std::ops::Deref;
use std::ptr;

use super::encoder::{SHORT, Sink, put_prefixed_below_0x80};

/// Encoded bytes up to this length live on the stack while a key is built.
pub(crate) const INLINE_BYTES: usize = 128;

/// Invariant: `inline[..len]` is initialized. The array itself is not
/// zeroed when created: on the hit path that would cost more than encoding.
pub(crate) struct KeyBuf {
    /// Bytes written to `inline`, or [`SPILLED`] once they moved to
    /// `spilled`: so one comparison with the room left tells a write where
    /// it goes.
    len: usize,
    inline: [MaybeUninit<u8>; INLINE_BYTES],
    /// Every byte, once the key outgrew `inline`.
    spilled: Option<Vec<u8>>,
}

/// `len` of a buffer whose bytes are in `spilled`: larger than any room
/// `inline` has, and far enough from `usize::MAX` that adding a slice's
/// length to it cannot overflow.
const SPILLED: usize = usize::MAX / 2;

impl KeyBuf {
    #[inline]
    pub(crate) fn new() -> Self {
        KeyBuf {
            len: 0,
            // A `const` repeat: `[MaybeUninit::uninit(); N]` repeats a value
            // made at run time, which was compiled to a `memset` of zeros,
            // 112 bytes on every call.
            inline: [const { MaybeUninit::uninit() }; INLINE_BYTES],
            spilled: None,
        }
    }

    /// Replaces the contents with `bytes` (at most [`INLINE_BYTES`]).
    pub(crate) fn replace(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= INLINE_BYTES);
        self.spilled = None;
        self.len = 0;
        self.write_inline(bytes);
    }

    /// Appends `bytes` to `inline`, which the caller has checked has room.
    #[inline(always)]
    fn write_inline(&mut self, bytes: &[u8]) {
        let dst = &mut self.inline[self.len..self.len + bytes.len()];
        // SAFETY: `dst` and `bytes` have the same length (the slice above
        // checks the range), and a fresh `&mut` cannot overlap `bytes`.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), dst.as_mut_ptr().cast(), bytes.len()) };
        self.len += bytes.len();
    }

    fn initialized(&self) -> &[u8] {
        initialized(&self.inline, self.len)
    }

    /// [`Sink::put_tagged_le_u64`] within 16 bytes of the inline room's
    /// end; out of line, so that the integer encoder stays small enough to
    /// inline into the hit path.
    #[cold]
    #[inline(never)]
    fn put_tagged_near_the_end(&mut self, tag: u8, value: u64, len: usize) {
        self.put(tag);
        self.put_le_u64(value, len);
    }

    /// [`Sink::put_short_prefixed`] within 16 bytes of the inline room's
    /// end, out of line for the reason `put_tagged_near_the_end` is.
    #[cold]
    #[inline(never)]
    fn put_short_near_the_end(&mut self, tag: u8, bytes: &[u8]) {
        put_prefixed_below_0x80(self, tag, bytes);
    }

    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        let len = self.len;
        let inline = &self.inline;
        let all = self.spilled.get_or_insert_with(|| {
            let mut all = Vec::with_capacity(INLINE_BYTES * 2);
            all.extend_from_slice(initialized(inline, len));
            all
        });
        all.extend_from_slice(bytes);
        self.len = SPILLED;
    }
}

impl Deref for KeyBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        if self.len <= INLINE_BYTES {
            self.initialized()
        } else {
            self.spilled.as_deref().unwrap_or_default()
        }
    }
}

impl Sink for KeyBuf {
    #[inline]
    fn put(&mut self, byte: u8) {
        if self.len < INLINE_BYTES {
            self.inline[self.len] = MaybeUninit::new(byte);
            self.len += 1;
        } else {
            self.spill(&[byte]);
        }
    }

    #[inline]
    fn put_all(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() <= INLINE_BYTES {
            self.write_inline(bytes);
        } else {
            self.spill(bytes);
        }
    }

    /// Writes all eight bytes at once (a fixed-size copy, no `memcpy` call)
    /// and keeps the first `len`.
    #[inline]
    fn put_le_u64(&mut self, value: u64, len: usize) {
        if self.len + 8 <= INLINE_BYTES {
            let at = self.len;
            self.write_inline(&value.to_le_bytes());
            // Keep only the low `len` bytes; the rest are written but unused.
            self.len = at + len;
        } else {
            self.spill(&value.to_le_bytes()[..len]);
        }
    }

    /// Writes the tag and the value in one 16-byte store: the hash and the
    /// comparison that read the key next load its first bytes in one word,
    /// and a load that spans two smaller stores (a byte, then the value)
    /// cannot be forwarded from them, which stalled every integer key's
    /// lookup for about as long as the rest of its hash.
    #[inline(always)]
    fn put_tagged_le_u64(&mut self, tag: u8, value: u64, len: usize) {
        if self.len + 16 <= INLINE_BYTES {
            let at = self.len;
            let word = u128::from(value) << 8 | u128::from(tag);
            self.write_inline(&word.to_le_bytes());
            // Keep the tag and the low `len` bytes of the value.
            self.len = at + 1 + len;
        } else {
            self.put_tagged_near_the_end(tag, value, len);
        }
    }

    /// Writes the tag, the length and the bytes in one 16-byte store, for
    /// the reasons [`put_tagged_le_u64`](Self::put_tagged_le_u64) gives;
    /// and a string key's parts are mostly this short.
    #[inline(always)]
    fn put_short_prefixed(&mut self, tag: u8, bytes: &[u8]) {
        debug_assert!(bytes.len() <= SHORT);
        if self.len + 16 <= INLINE_BYTES && bytes.len() <= SHORT {
            let at = self.len;
            let len = bytes.len();
            let word = le_bytes(bytes) << 16 | (len as u128) << 8 | u128::from(tag);
            self.write_inline(&word.to_le_bytes());
            self.len = at + 2 + len;
        } else {
            self.put_short_near_the_end(tag, bytes);
        }
    }
}

/// `bytes` (at most 16) as a little-endian integer, gathered with loads that
/// overlap where the length is not a power of two: a copy of unknown length
/// is a `memcpy` call, and one byte at a time a loop.
#[inline(always)]
pub(crate) fn le_bytes(bytes: &[u8]) -> u128 {
    let len = bytes.len();
    debug_assert!(len <= 16);
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let u32_at = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()));
    let byte_at = |at: usize| u64::from(bytes[at]) << (8 * at);
    // The overlapping parts hold the same bytes at the same places, so
    // `|` joins them.
    let (low, high) = match len {
        // The last word, shifted down to the bytes past the first word.
        8..=16 => (
            u64_at(0),
            u64_at(len - 8)
                .checked_shr(8 * (16 - len) as u32)
                .unwrap_or(0),
        ),
        4..=7 => (u32_at(0) | u32_at(len - 4) << (8 * (len - 4)), 0),
        1..=3 => (byte_at(0) | byte_at(len / 2) | byte_at(len - 1), 0),
        _ => (0, 0),
    };
    u128::from(high) << 64 | u128::from(low)
}

fn initialized(inline: &[MaybeUninit<u8>; INLINE_BYTES], len: usize) -> &[u8] {
    // SAFETY: callers pass the buffer's `len`, below which it is initialized.
    unsafe { std::slice::from_raw_parts(inline.as_ptr().cast(), len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_to_the_heap_and_keeps_every_byte() {
        let mut buf = KeyBuf::new();
        let bytes: Vec<u8> = (0..=255).collect();
        for chunk in bytes.chunks(7) {
            buf.put_all(chunk);
        }
        buf.put(1);
        buf.put_le_u64(0x0102, 2);
        let mut expected = bytes.clone();
        expected.extend_from_slice(&[1, 0x02, 0x01]);
        assert_eq!(&*buf, &expected[..]);
    }

    #[test]
    fn short_copies_of_every_length_are_exact() {
        for n in 0..=20 {
            let bytes: Vec<u8> = (1..=n as u8).collect();
            let mut buf = KeyBuf::new();
            buf.put(0xEE);
            buf.put_all(&bytes);
            buf.put(0xFF);
            let mut expected = vec![0xEE];
            expected.extend_from_slice(&bytes);
            expected.push(0xFF);
            assert_eq!(&*buf, &expected[..], "length {n}");
        }
    }

    #[test]
    fn short_strings_are_the_tag_their_length_and_their_bytes_inline_or_spilled() {
        let bytes: Vec<u8> = (1..=SHORT as u8).collect();
        for start in [0, 1, INLINE_BYTES - 16, INLINE_BYTES - 15, INLINE_BYTES] {
            for len in 0..=SHORT {
                let mut buf = KeyBuf::new();
                buf.put_all(&vec![0x11; start]);
                buf.put_short_prefixed(0x0C, &bytes[..len]);
                buf.put(7);
                let mut expected = vec![0x11; start];
                expected.extend_from_slice(&[0x0C, len as u8]);
                expected.extend_from_slice(&bytes[..len]);
                expected.push(7);
                assert_eq!(&*buf, &expected[..], "length {len} at {start}");
            }
        }
    }

    #[test]
    fn le_bytes_gathers_every_length_exactly() {
        let all: Vec<u8> = (1..=16).collect();
        for len in 0..=16 {
            let mut expected = [0; 16];
            expected[..len].copy_from_slice(&all[..len]);
            assert_eq!(
                le_bytes(&all[..len]),
                u128::from_le_bytes(expected),
                "length {len}"
            );
        }
    }

    #[test]
    fn tagged_integers_are_the_tag_then_their_low_bytes_inline_or_spilled() {
        for start in [0, INLINE_BYTES - 16, INLINE_BYTES - 9, INLINE_BYTES] {
            let mut buf = KeyBuf::new();
            buf.put_all(&vec![0x11; start]);
            buf.put_tagged_le_u64(0x28, 0x0807_0605_0403_0201, 8);
            buf.put_tagged_le_u64(0x22, 0xAABB, 2);
            buf.put(7);
            let mut expected = vec![0x11; start];
            expected.extend_from_slice(&[0x28, 1, 2, 3, 4, 5, 6, 7, 8, 0x22, 0xBB, 0xAA, 7]);
            assert_eq!(&*buf, &expected[..], "from byte {start}");
        }
    }

    #[test]
    fn partial_integers_leave_no_trailing_bytes() {
        let mut buf = KeyBuf::new();
        buf.put_le_u64(0xAABB, 2);
        buf.put(7);
        assert_eq!(&*buf, &[0xBB, 0xAA, 7]);
    }
}
