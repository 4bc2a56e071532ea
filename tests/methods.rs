//! `#[cached]` on methods and associated functions, and their companions.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::cached;
use serde::Serialize;

static PRICE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Serialize)]
struct Region {
    name: String,
}

impl Region {
    /// `self` is part of the key: regions with equal data share entries.
    #[cached]
    async fn price(&self, sku: u32) -> u32 {
        PRICE_RUNS.fetch_add(1, SeqCst);
        sku + self.name.len() as u32
    }
}

#[tokio::test]
async fn a_serialized_self_is_part_of_the_key() {
    let eu = Region { name: "eu".into() };
    let eu_again = Region { name: "eu".into() };
    let apac = Region {
        name: "apac".into(),
    };
    assert_eq!(eu.price(10).await, 12);
    assert_eq!(eu_again.price(10).await, 12);
    assert_eq!(PRICE_RUNS.load(SeqCst), 1);
    assert_eq!(apac.price(10).await, 14);
    assert_eq!(PRICE_RUNS.load(SeqCst), 2);

    // Companions are associated functions beside the method.
    assert!(eu.price_invalidate(10).await);
    assert!(!eu_again.price_invalidate(10).await);
    assert_eq!(Region::price_cache().len(), 1);
    assert_ne!(eu.price_key(10), apac.price_key(10));
    Region::price_clear().await;
    assert!(Region::price_cache().is_empty());
    assert_eq!(apac.price_uncached(1).await, 5);
    assert!(Region::price_cache().is_empty());
}

struct Repo {
    connections: usize,
}

static FIND_RUNS: AtomicUsize = AtomicUsize::new(0);

impl Repo {
    /// `skip(self)`: one cache for every instance.
    #[cached(skip(self), ttl = 30)]
    async fn find(&self, id: u64) -> Option<String> {
        FIND_RUNS.fetch_add(1, SeqCst);
        Some(format!("#{id} via {}", self.connections))
    }

    /// An associated function: recognised by `Self` in its signature.
    #[cached]
    async fn open(connections: usize) -> Self {
        Repo { connections }
    }
}

impl Clone for Repo {
    fn clone(&self) -> Self {
        Repo {
            connections: self.connections,
        }
    }
}

#[tokio::test]
async fn a_skipped_self_shares_one_cache_between_instances() {
    let a = Repo { connections: 1 };
    let b = Repo { connections: 2 };
    assert_eq!(a.find(7).await.as_deref(), Some("#7 via 1"));
    assert_eq!(b.find(7).await.as_deref(), Some("#7 via 1"));
    assert_eq!(FIND_RUNS.load(SeqCst), 1);
    assert!(Repo::find_invalidate(7).await);
    assert_eq!(b.find(7).await.as_deref(), Some("#7 via 2"));
    assert_eq!(Repo::find_stats().misses, 2);

    assert_eq!(Repo::open(3).await.connections, 3);
    assert_eq!(Repo::open_cache().len(), 1);
}

struct Typed<T>(PhantomData<T>);

impl<T: 'static> Typed<T> {
    /// One static cache serves every `T`; the key carries `Self`'s type name.
    #[cached(skip(self))]
    async fn name(&self, id: u32) -> String {
        format!("{id}: {}", std::any::type_name::<T>())
    }
}

#[tokio::test]
async fn generic_impls_keep_instantiations_apart() {
    assert_eq!(Typed::<u8>(PhantomData).name(1).await, "1: u8");
    assert_eq!(Typed::<i64>(PhantomData).name(1).await, "1: i64");
    assert_ne!(Typed::<u8>::name_key(1), Typed::<i64>::name_key(1));
}
