//! Unit tests of keys: identities, digests, parts built in place.

use super::*;

#[test]
fn parts_encode_like_the_tuple_of_them() {
    let mut parts = KeyParts::new(2);
    parts.part("user");
    parts.part(&7u64);
    parts.finish();
    let tuple = encode_identity(&("user", 7u64)).unwrap();
    assert_eq!(parts.identity(), Ok(&*tuple));

    let mut single = KeyParts::new(1);
    single.part(&7u64);
    single.finish();
    assert_eq!(single.identity(), Ok(&*encode_identity(&7u64).unwrap()));
}

/// `levels` sequences, one inside the other.
struct Seqs(usize);

impl Serialize for Seqs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(None)?;
        if self.0 > 1 {
            seq.serialize_element(&Seqs(self.0 - 1))?;
        }
        seq.end()
    }
}

#[test]
fn parts_are_as_deep_as_the_elements_of_the_tuple() {
    for (parts, levels) in [
        (1, KEY_MAX_DEPTH),
        (2, KEY_MAX_DEPTH - 1),
        (2, KEY_MAX_DEPTH),
    ] {
        let mut built = KeyParts::new(parts);
        built.part(&Seqs(levels));
        if parts == 2 {
            built.part(&1u8);
        }
        built.finish();
        let whole = if parts == 2 {
            encode_identity(&(Seqs(levels), 1u8))
        } else {
            encode_identity(&Seqs(levels))
        };
        assert_eq!(built.identity().ok(), whole.as_deref().ok());
        assert_eq!(
            built.identity().is_ok(),
            levels < KEY_MAX_DEPTH || parts == 1
        );
    }
}

#[test]
fn short_and_long_identities_differ_at_any_byte_and_length() {
    for len in 0..=150usize {
        let a: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
        assert!(bytes_eq(&a, &a.clone()), "length {len}");
        for at in 0..len {
            let mut b = a.clone();
            b[at] ^= 0x40;
            assert!(!bytes_eq(&a, &b), "length {len}, byte {at}");
        }
        let mut longer = a.clone();
        longer.push(0);
        assert!(!bytes_eq(&a, &longer), "lengths {len} and {}", len + 1);
    }
}

#[test]
fn an_encoders_result_fits_in_two_registers() {
    assert!(std::mem::size_of::<Result<(), KeyError>>() <= 2 * std::mem::size_of::<usize>());
}

#[test]
fn a_key_keeps_every_byte_of_its_identity_at_any_length() {
    for len in 0..=40usize {
        let id: Vec<u8> = (1..=len as u8).map(|i| i.wrapping_mul(101)).collect();
        let key = CacheKey::from_parts("m::f", &id);
        assert_eq!(key.id(), &*id, "length {len}");
        assert_eq!(key.id.is_heap(), len > id::INLINE_ID, "length {len}");
    }
}

#[test]
fn a_key_takes_four_words() {
    // The namespace's pointer and length, and the identity's two words.
    assert_eq!(
        std::mem::size_of::<CacheKey>(),
        4 * std::mem::size_of::<usize>()
    );
}
