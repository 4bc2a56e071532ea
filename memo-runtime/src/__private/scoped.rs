//! Namespaces that depend on a `Self` type, built once per site and type.

use std::fmt;
use std::ptr;
use std::sync::OnceLock;

use parking_lot::RwLock;

/// The namespace of an associated function, which depends on the `Self` type
/// it is called for (a generic `impl<T> Foo<T>` has one function per type):
/// `prefix`, then `type_name::<Self>()`, then `suffix`, built and leaked once
/// per site and type.
pub struct Scoped {
    prefix: &'static str,
    suffix: &'static str,
    /// The first `Self` type seen and its namespace: the only one, unless the
    /// impl is generic.
    first: OnceLock<(&'static str, &'static str)>,
    /// The namespaces of the other types, by type name.
    more: RwLock<hashbrown::HashMap<&'static str, &'static str, foldhash::fast::FixedState>>,
}

impl Scoped {
    /// A site whose namespaces are `prefix` + type name + `suffix`.
    pub const fn new(prefix: &'static str, suffix: &'static str) -> Scoped {
        Scoped {
            prefix,
            suffix,
            first: OnceLock::new(),
            more: RwLock::new(hashbrown::HashMap::with_hasher(
                foldhash::fast::FixedState::with_seed(0),
            )),
        }
    }

    /// The namespace for `Self` = `self_type` (its `type_name`): the same
    /// `&'static str` on every call with that type. The first type costs a
    /// read and a string compare, no allocation and no shared write.
    #[inline]
    pub fn namespace(&'static self, self_type: &'static str) -> &'static str {
        match self.first.get() {
            // Usually the very same string; else compared by content (a type's
            // name may exist once per codegen unit).
            Some((seen, namespace)) if ptr::eq(*seen, self_type) || *seen == self_type => namespace,
            _ => self.namespace_slow(self_type),
        }
    }

    #[cold]
    fn namespace_slow(&'static self, self_type: &'static str) -> &'static str {
        let (seen, namespace) = *self
            .first
            .get_or_init(|| (self_type, self.build(self_type)));
        if seen == self_type {
            return namespace;
        }
        if let Some(namespace) = self.more.read().get(self_type) {
            return namespace;
        }
        self.more
            .write()
            .entry(self_type)
            .or_insert_with(|| self.build(self_type))
    }

    fn build(&self, self_type: &str) -> &'static str {
        let namespace = [self.prefix, self_type, self.suffix].concat();
        Box::leak(namespace.into_boxed_str())
    }
}

impl fmt::Debug for Scoped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("prefix", &self.prefix)
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}
