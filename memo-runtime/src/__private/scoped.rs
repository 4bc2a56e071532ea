//! Things built once per site and `Self` type: a method's namespace (which
//! depends on the type it is called for; a generic `impl<T> Foo<T>` has one
//! function per type), and a shared function's cache.

use std::fmt;
use std::ptr;
use std::sync::OnceLock;

use parking_lot::RwLock;

/// One `&'static T` per key (a type name or a namespace), built and leaked
/// on first use. The first key costs a read and a pointer compare, no
/// allocation and no shared write; others a read lock and a map lookup.
pub struct PerType<T: ?Sized + 'static> {
    /// The first key seen and its value: the only one, unless the impl is
    /// generic.
    first: OnceLock<(&'static str, &'static T)>,
    /// The values of the other keys.
    more: RwLock<hashbrown::HashMap<&'static str, &'static T, foldhash::fast::FixedState>>,
}

impl<T: ?Sized + Sync + 'static> PerType<T> {
    /// An empty table.
    pub const fn new() -> PerType<T> {
        PerType {
            first: OnceLock::new(),
            more: RwLock::new(hashbrown::HashMap::with_hasher(
                foldhash::fast::FixedState::with_seed(0),
            )),
        }
    }

    /// The value of `key`, built by `build` the first time.
    #[inline(always)]
    pub fn get(&'static self, key: &'static str, build: impl FnOnce() -> &'static T) -> &'static T {
        match self.find(key) {
            Some(value) => value,
            None => self.get_slow(key, build),
        }
    }

    /// The value of `key` if it is the first key seen: the fast path, with
    /// nothing to build (so nothing is captured before the check).
    #[inline(always)]
    pub fn find(&'static self, key: &'static str) -> Option<&'static T> {
        match self.first.get() {
            // Usually the very same string; else compared by content (a type's
            // name may exist once per codegen unit).
            Some((seen, value)) if ptr::eq(*seen, key) || same_text(seen, key) => Some(*value),
            _ => None,
        }
    }

    #[cold]
    fn get_slow(
        &'static self,
        key: &'static str,
        build: impl FnOnce() -> &'static T,
    ) -> &'static T {
        let mut build = Some(build);
        let (seen, value) = *self
            .first
            .get_or_init(|| (key, (build.take().expect("not used yet"))()));
        if seen == key {
            return value;
        }
        if let Some(value) = self.more.read().get(key) {
            return value;
        }
        let build = build.expect("the first key was another");
        self.more.write().entry(key).or_insert_with(build)
    }
}

/// The rare case of the fast path above, out of line so that it stays small.
#[cold]
#[inline(never)]
fn same_text(a: &str, b: &str) -> bool {
    a == b
}

impl<T: ?Sized + Sync + 'static> Default for PerType<T> {
    fn default() -> Self {
        PerType::new()
    }
}

/// The namespace of an associated function: `prefix`, then
/// `type_name::<Self>()`, then `suffix`, built and leaked once per site and
/// type.
pub struct Scoped {
    prefix: &'static str,
    suffix: &'static str,
    namespaces: PerType<str>,
}

impl Scoped {
    /// A site whose namespaces are `prefix` + type name + `suffix`.
    pub const fn new(prefix: &'static str, suffix: &'static str) -> Scoped {
        Scoped {
            prefix,
            suffix,
            namespaces: PerType::new(),
        }
    }

    /// The namespace for `Self` = `self_type` (its `type_name`): the same
    /// `&'static str` on every call with that type.
    #[inline(always)]
    pub fn namespace(&'static self, self_type: &'static str) -> &'static str {
        match self.namespaces.find(self_type) {
            Some(namespace) => namespace,
            None => self.namespace_slow(self_type),
        }
    }

    #[cold]
    fn namespace_slow(&'static self, self_type: &'static str) -> &'static str {
        self.namespaces.get(self_type, || {
            let namespace = [self.prefix, self_type, self.suffix].concat();
            Box::leak(namespace.into_boxed_str())
        })
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
