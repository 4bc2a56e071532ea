//! Every path written in the attribute and the signature resolves where the
//! user wrote it: `super::..` in argument and return types, in `cache = ..`
//! and in `key = ..`, and types declared inside a function body for a
//! memoized function declared there too.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::AsyncCache;

/// The cache `users::name` names with `cache = super::SHARED`.
static SHARED: LazyLock<AsyncCache> = LazyLock::new(AsyncCache::new);

#[derive(serde::Serialize, Clone, Debug, PartialEq)]
pub struct UserId(u64);

/// The key function `users::name` names with `key = super::normalize(..)`.
fn normalize(name: &str) -> String {
    name.trim().to_lowercase()
}

mod users {
    use super::*;

    /// A cache of the same name as the parent's: `super::SHARED` written in
    /// this module is the parent's, never this one.
    pub static SHARED: LazyLock<AsyncCache> = LazyLock::new(AsyncCache::new);

    /// A key function of the same name as the parent's, which keys
    /// differently. Unused: that is the point.
    #[allow(dead_code)]
    pub fn normalize(name: &str) -> String {
        format!("not the parent's normalize: {name}")
    }

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[memo_runtime::cached(cache = super::SHARED, key = super::normalize(name))]
    pub async fn name(id: super::UserId, name: &str) -> super::UserId {
        RUNS.fetch_add(1, SeqCst);
        super::UserId(id.0 + name.len() as u64)
    }
}

#[tokio::test]
async fn super_paths_resolve_in_the_functions_own_module() {
    assert_eq!(users::name(UserId(1), " Ada ").await, UserId(6));
    // The entry is in the parent's cache, the one `super::SHARED` names
    // where it was written.
    assert_eq!(SHARED.len(), 1);
    assert_eq!(users::SHARED.len(), 0);
    assert!(std::ptr::eq(users::name::cache(), &*SHARED));

    // The key is the parent's `normalize`: another spelling hits...
    assert_eq!(users::name(UserId(9), "ada").await, UserId(6));
    assert_eq!(users::RUNS.load(SeqCst), 1);
    // ...and the companions build the same key, so invalidation finds it.
    assert!(users::name::invalidate(UserId(0), "ADA").await);
    assert!(SHARED.is_empty());
    assert_eq!(
        users::name::key(UserId(0), "ada"),
        users::name::key(UserId(5), " Ada")
    );
}

#[tokio::test]
async fn a_function_declared_in_a_body_uses_the_bodys_items() {
    #[derive(serde::Serialize, Clone, Debug, PartialEq)]
    struct Local(u32);

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[memo_runtime::cached]
    async fn helper(value: Local) -> Local {
        RUNS.fetch_add(1, SeqCst);
        Local(value.0 * 2)
    }

    assert_eq!(helper(Local(2)).await, Local(4));
    assert_eq!(helper(Local(2)).await, Local(4));
    assert_eq!(RUNS.load(SeqCst), 1);
    assert!(helper::invalidate(Local(2)).await);
    assert!(!memo_runtime::invalidate!(helper, Local(3)).await);
    assert_eq!(helper::stats().hits, 1);
}

mod imported {
    #[memo_runtime::cached]
    pub async fn shout(text: String) -> String {
        text.to_uppercase()
    }
}

#[tokio::test]
async fn importing_the_function_imports_its_companions() {
    use imported::shout;
    assert_eq!(shout("hi".into()).await, "HI");
    assert_eq!(shout::cache().len(), 1);
    assert!(memo_runtime::invalidate!(shout, "hi".to_owned()).await);
}

/// One cache for the two helpers below: one name, two enclosing functions.
static HELPERS: std::sync::LazyLock<memo_runtime::AsyncCache> =
    std::sync::LazyLock::new(memo_runtime::AsyncCache::new);

fn first_body() -> u32 {
    #[memo_runtime::cached(cache = HELPERS)]
    fn helper(n: u32) -> u32 {
        n + 1000
    }
    helper(1)
}

fn second_body() -> u32 {
    #[memo_runtime::cached(cache = HELPERS)]
    fn helper(n: u32) -> u32 {
        n + 2000
    }
    let value = helper(1);
    helper::clear();
    value
}

#[test]
fn functions_of_one_name_in_two_bodies_keep_their_own_keys() {
    assert_eq!(first_body(), 1001);
    // Not the first helper's entry under a shared name.
    assert_eq!(second_body(), 2001);
    // The second helper's clear left the first one's entry alone.
    assert_eq!(HELPERS.len(), 1);
    assert_eq!(first_body(), 1001);
    assert_eq!(HELPERS.stats().hits, 1);
}
