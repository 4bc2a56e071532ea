//! A namespace as a stored entry keeps it: a one-word pointer to its text
//! and a 16-bit length, which fits in the header's padding. A `&'static
//! str` takes two words, and with it a `u64 -> u64` entry allocated 72
//! bytes instead of 56.
//!
//! A namespace of `u16::MAX` bytes or more (none that a function gets, but
//! [`CacheKey::try_in`](crate::CacheKey::try_in) takes any) is interned
//! instead: the pointer is to a leaked `&'static str`, one per distinct
//! long namespace, and the length is [`LONG`].

use std::collections::HashSet;
use std::ptr::NonNull;
use std::sync::Mutex;

/// The length of a namespace that is interned.
const LONG: u16 = u16::MAX;

/// A namespace's text, as a pointer whose meaning its [`NamespaceLen`]
/// gives: the text itself, or the interned `&'static str` of a long one.
#[derive(Clone, Copy)]
pub(crate) struct PackedNamespace(NonNull<u8>);

/// The other half of a [`PackedNamespace`]: its length, or [`LONG`].
pub(crate) type NamespaceLen = u16;

// SAFETY: the pointer is to `'static`, immutable text (or to a leaked,
// immutable `&'static str`), like the `&'static str` it stands for.
unsafe impl Send for PackedNamespace {}
// SAFETY: as above.
unsafe impl Sync for PackedNamespace {}

impl PackedNamespace {
    /// `namespace` packed, and the length to keep beside it.
    #[inline(always)]
    pub(crate) fn new(namespace: &'static str) -> (PackedNamespace, NamespaceLen) {
        match NamespaceLen::try_from(namespace.len()) {
            Ok(len) if len != LONG => (PackedNamespace(NonNull::from(namespace).cast()), len),
            _ => (PackedNamespace(interned(namespace).cast()), LONG),
        }
    }

    /// The namespace, given the length it was packed with.
    #[inline(always)]
    pub(crate) fn get(self, len: NamespaceLen) -> &'static str {
        if len == LONG {
            // SAFETY: a long namespace's pointer is to the `&'static str`
            // that `interned` leaked.
            return unsafe { *self.0.cast::<&'static str>().as_ptr() };
        }
        let bytes = std::ptr::slice_from_raw_parts(self.0.as_ptr(), usize::from(len));
        // SAFETY: a short namespace's pointer and length are those of a
        // `&'static str`, which is valid UTF-8 and never freed.
        unsafe { std::str::from_utf8_unchecked(&*bytes) }
    }

    /// Whether the namespace packed with `len` is `namespace`. A function's
    /// namespace is one `&'static str`, so on the hit path the pointers are
    /// equal and the text is not compared.
    #[inline(always)]
    pub(crate) fn is(self, len: NamespaceLen, namespace: &str) -> bool {
        (std::ptr::eq(self.0.as_ptr(), namespace.as_ptr()) && usize::from(len) == namespace.len())
            || self.text_is(len, namespace)
    }

    /// The rare case of [`is`](Self::is), out of line so that the lookup's
    /// comparison stays small enough to inline into the probe loop.
    #[cold]
    #[inline(never)]
    fn text_is(self, len: NamespaceLen, namespace: &str) -> bool {
        // An interned namespace's pointer is not its text's: compare the
        // text pointers before the text.
        let stored = self.get(len);
        std::ptr::eq(stored, namespace) || stored == namespace
    }
}

/// The one leaked `&'static str` of a long namespace.
#[cold]
fn interned(namespace: &'static str) -> NonNull<&'static str> {
    static LONG_NAMESPACES: Mutex<Option<HashSet<&'static &'static str>>> = Mutex::new(None);
    // A panic while the set was held cannot have left it half changed.
    let mut set = LONG_NAMESPACES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let set = set.get_or_insert_with(HashSet::new);
    if let Some(&known) = set.get(&namespace) {
        return NonNull::from(known);
    }
    let leaked: &'static &'static str = Box::leak(Box::new(namespace));
    set.insert(leaked);
    NonNull::from(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_reads_back_and_is_itself() {
        for namespace in ["", "m::f", "a_crate::a_module::Type::method"] {
            let (packed, len) = PackedNamespace::new(namespace);
            assert_eq!(packed.get(len), namespace);
            assert!(packed.is(len, namespace));
            assert!(packed.is(len, &String::from(namespace)), "by text");
            assert!(!packed.is(len, "m::g"));
        }
    }

    #[test]
    fn a_long_namespace_is_interned_once_and_reads_back() {
        // Static text, not leaked: Miri would report a leak.
        static TEXT: [u8; 100_000] = [b'n'; 100_000];
        for len in [usize::from(LONG) - 1, usize::from(LONG), TEXT.len()] {
            let namespace = std::str::from_utf8(&TEXT[..len]).unwrap();
            let (packed, packed_len) = PackedNamespace::new(namespace);
            assert_eq!(packed_len == LONG, len >= usize::from(LONG), "length {len}");
            assert_eq!(packed.get(packed_len), namespace);
            assert!(packed.is(packed_len, namespace));
            assert!(!packed.is(packed_len, &namespace[1..]));
            let (again, _) = PackedNamespace::new(namespace);
            assert_eq!(again.0, packed.0, "one copy per namespace");
        }
    }
}
