//! The shared tier: Redis behind the in-memory caches, so that the replicas
//! of a service share results and invalidations (feature `redis`).
//!
//! - [`tier`]: the handle on one Redis deployment, its health and breaker.
//! - [`worker`]: the tier's own runtime thread.
//! - [`bus`]: invalidations published and applied to every in-memory copy.
//! - [`cache`]: [`SharedCache`], the two tiers behind one API.
//! - [`replay`]: invalidations that failed during an outage, replayed after.
//! - [`codec`]: the bytes of a stored value; [`url`]: URLs, redacted;
//!   [`tls`]: certificates for `rediss://`.
//!
//! # Keys in Redis
//!
//! `prefix:{namespace}:key-hex`, printable ASCII, so `redis-cli --scan`
//! shows them whole: the key's canonical bytes ([`CacheKey`](crate::CacheKey))
//! in lower-case hex. The braces are a Redis Cluster hash tag: all keys of
//! one namespace (its values and its load locks, `…:lock:key-hex`) map to
//! one hash slot, so a namespace's commands never cross slots. Invalidations
//! go out on the channel `prefix:invalidate`.

mod bus;
mod cache;
mod codec;
mod replay;
mod tier;
mod tls;
mod url;
mod worker;

use std::fmt;

pub use cache::{SharedCache, SharedCacheBuilder, SharedValue};
pub use tier::{DEFAULT_LOCK_LEASE, DEFAULT_TIMEOUT, SharedTier, SharedTierBuilder};

/// Values larger than this (encoded) stay in memory only, unless
/// [`SharedCacheBuilder::max_value_bytes`] says otherwise.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;

/// A shared tier or shared cache could not be made. The message never
/// contains the URL's password.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SharedTierError {
    /// The URL is malformed or its scheme is not supported.
    Url {
        /// The URL, its password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting was rejected; the message says which and why.
    Setting(String),
    /// The tier's background thread or runtime could not start.
    Runtime(String),
}

impl fmt::Display for SharedTierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharedTierError::Url { url, reason } => {
                write!(
                    f,
                    "memo: bad Redis URL {url}: {reason} (expected redis://[user:password@]host[:port][/db], the same with rediss://, or redis+unix:///path)"
                )
            }
            SharedTierError::Setting(message) => write!(f, "memo: {message}"),
            SharedTierError::Runtime(message) => {
                write!(
                    f,
                    "memo: the shared tier's runtime did not start: {message}"
                )
            }
        }
    }
}

impl std::error::Error for SharedTierError {}

/// Printable ASCII without spaces and without the braces of hash tags.
pub(crate) fn is_printable(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
    out
}

/// The bytes of lower-case hex, if it is that.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// The Redis key of a value: `prefix:{namespace}:key-hex`.
pub(crate) fn redis_key(prefix: &str, namespace: &str, key_hex: &str) -> String {
    format!("{prefix}:{{{namespace}}}:{key_hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_what_is_not_hex() {
        let bytes = [0u8, 1, 0x7f, 0xff, 0x20];
        assert_eq!(hex(&bytes), "00017fff20");
        assert_eq!(unhex(&hex(&bytes)).as_deref(), Some(&bytes[..]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn redis_keys_are_printable_and_hash_tagged_by_namespace() {
        let key = redis_key("shop", "billing::invoice", &hex(b"\x21\x07"));
        assert_eq!(key, "shop:{billing::invoice}:2107");
        assert!(key.bytes().all(|b| b.is_ascii_graphic()));
        assert!(is_printable("billing::invoice"));
        assert!(!is_printable("with space"));
        assert!(!is_printable("brace{"));
        assert!(!is_printable(""));
    }
}
