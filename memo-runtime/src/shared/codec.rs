//! Values as the shared tier stores them: a header, then the value in
//! postcard. Bytes read back from Redis are untrusted: anything that is not
//! exactly what this build would write for this type is refused, and the
//! caller treats it as a miss.
//!
//! ```text
//! "memo" | format (1 byte) | type fingerprint (8 bytes LE) | version (4 bytes LE)
//!        | ttl in ms (8 bytes LE) | postcard
//! ```
//!
//! The TTL is the one the value was written with (Redis tells only what
//! is left of it): a replica that reads the value knows its age, and finds
//! it due for a refresh at the same age as the replica that wrote it.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

const MAGIC: &[u8; 4] = b"memo";
const FORMAT: u8 = 2;
const HEADER: usize = MAGIC.len() + 1 + 8 + 4 + 8;

/// A fingerprint of `V`'s type: FNV-1a of its type name, equal in every
/// process of one build (and of builds whose type has the same path).
pub(crate) fn fingerprint<V: ?Sized>() -> u64 {
    std::any::type_name::<V>()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// `value`, written for `ttl`, with its header; `None` if postcard cannot
/// serialize it (a `Serialize` impl that fails), in which case it stays in
/// L1 only.
pub(crate) fn encode<V: Serialize>(value: &V, version: u32, ttl: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(HEADER + 16);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.extend_from_slice(&fingerprint::<V>().to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    out.extend_from_slice(&millis.to_le_bytes());
    postcard::to_extend(value, out).ok()
}

/// Why stored bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not written by memo (or by another format version).
    NotOurs,
    /// Written for another type, or another `version` of the function.
    OtherType,
    /// The header matched but the value did not decode (truncated, garbage).
    Corrupt,
}

/// The value `bytes` hold and the TTL it was written for, if they are
/// exactly an encoding of a `V` of `version`.
pub(crate) fn decode<V: DeserializeOwned>(
    bytes: &[u8],
    version: u32,
) -> Result<(V, Duration), Refused> {
    if bytes.len() < HEADER || &bytes[..4] != MAGIC || bytes[4] != FORMAT {
        return Err(Refused::NotOurs);
    }
    let type_ok = bytes[5..13] == fingerprint::<V>().to_le_bytes();
    let version_ok = bytes[13..17] == version.to_le_bytes();
    if !(type_ok && version_ok) {
        return Err(Refused::OtherType);
    }
    let mut millis = [0; 8];
    millis.copy_from_slice(&bytes[17..25]);
    let ttl = Duration::from_millis(u64::from_le_bytes(millis));
    match postcard::take_from_bytes::<V>(&bytes[HEADER..]) {
        // Trailing bytes mean it was not one value of this type.
        Ok((value, [])) => Ok((value, ttl)),
        _ => Err(Refused::Corrupt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_and_anything_else_is_refused() {
        let ttl = Duration::from_secs(90);
        let bytes = encode(&(7u32, String::from("Ada")), 2, ttl).unwrap();
        assert_eq!(
            decode::<(u32, String)>(&bytes, 2),
            Ok(((7, "Ada".into()), ttl))
        );
        assert_eq!(decode::<(u32, String)>(&bytes, 3), Err(Refused::OtherType));
        assert_eq!(decode::<u64>(&bytes, 2), Err(Refused::OtherType));
        assert_eq!(
            decode::<(u32, String)>(b"garbage", 2),
            Err(Refused::NotOurs)
        );
        assert_eq!(
            decode::<(u32, String)>(&bytes[..bytes.len() - 1], 2),
            Err(Refused::Corrupt)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode::<(u32, String)>(&longer, 2), Err(Refused::Corrupt));
    }

    #[test]
    fn fingerprints_tell_types_apart() {
        assert_eq!(fingerprint::<u32>(), fingerprint::<u32>());
        assert_ne!(fingerprint::<u32>(), fingerprint::<u64>());
    }
}
