//! The buffer a key is encoded into on every call: on the stack for keys up
//! to [`INLINE_BYTES`], so a hit never allocates, and written without the
//! per-byte bookkeeping a general-purpose small vector does.

use std::ops::Deref;

use super::encoder::Sink;

/// Encoded bytes up to this length live on the stack while a key is built.
pub(crate) const INLINE_BYTES: usize = 128;

pub(crate) struct KeyBuf {
    /// Bytes written to `inline`; unused once spilled.
    len: usize,
    inline: [u8; INLINE_BYTES],
    /// Every byte, once the key outgrew `inline`.
    spilled: Option<Vec<u8>>,
}

impl KeyBuf {
    #[inline]
    pub(crate) fn new() -> Self {
        KeyBuf {
            len: 0,
            inline: [0; INLINE_BYTES],
            spilled: None,
        }
    }

    /// Replaces the contents with `bytes` (at most [`INLINE_BYTES`]).
    pub(crate) fn replace(&mut self, bytes: &[u8]) {
        self.spilled = None;
        self.len = bytes.len();
        self.inline[..bytes.len()].copy_from_slice(bytes);
    }

    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        let all = self.spilled.get_or_insert_with(|| {
            let mut all = Vec::with_capacity(INLINE_BYTES * 2);
            all.extend_from_slice(&self.inline[..self.len]);
            all
        });
        all.extend_from_slice(bytes);
    }
}

impl Deref for KeyBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.spilled {
            None => &self.inline[..self.len],
            Some(all) => all,
        }
    }
}

impl Sink for KeyBuf {
    #[inline]
    fn put(&mut self, byte: u8) {
        if self.len < INLINE_BYTES && self.spilled.is_none() {
            self.inline[self.len] = byte;
            self.len += 1;
        } else {
            self.spill(&[byte]);
        }
    }

    #[inline]
    fn put_all(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end <= INLINE_BYTES && self.spilled.is_none() {
            self.inline[self.len..end].copy_from_slice(bytes);
            self.len = end;
        } else {
            self.spill(bytes);
        }
    }

    /// Writes all eight bytes at once (a fixed-size copy, no `memcpy` call)
    /// and keeps the first `len`.
    #[inline]
    fn put_le_u64(&mut self, value: u64, len: usize) {
        if self.len + 8 <= INLINE_BYTES && self.spilled.is_none() {
            self.inline[self.len..self.len + 8].copy_from_slice(&value.to_le_bytes());
            self.len += len;
        } else {
            self.spill(&value.to_le_bytes()[..len]);
        }
    }
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
    fn partial_integers_leave_no_trailing_bytes() {
        let mut buf = KeyBuf::new();
        buf.put_le_u64(0xAABB, 2);
        buf.put(7);
        assert_eq!(&*buf, &[0xBB, 0xAA, 7]);
    }
}
