//! `#[cached]` on an `impl` block: associated functions without `self`,
//! methods of trait impls (also under `#[async_trait]`), and the namespaces
//! that keep two types' methods of one name apart.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memo_runtime::{AsyncCache, cached, invalidate};

static LOAD_RUNS: AtomicUsize = AtomicUsize::new(0);

struct Repo;

#[cached]
impl Repo {
    /// No `self` and no `Self`: only the impl-level attribute can tell this
    /// is not a free function.
    #[cached(ttl = 60)]
    async fn load(id: u64) -> String {
        LOAD_RUNS.fetch_add(1, SeqCst);
        format!("row {id}")
    }

    /// A plain method in the same block is left alone.
    fn name(&self) -> &'static str {
        "repo"
    }
}

#[tokio::test]
async fn associated_functions_without_self_get_companions() {
    assert_eq!(Repo::load(1).await, "row 1");
    assert_eq!(Repo::load(1).await, "row 1");
    assert_eq!(LOAD_RUNS.load(SeqCst), 1);
    assert_eq!(Repo::load_stats().hits, 1);
    assert!(Repo::load_invalidate(1).await);
    Repo::load(2).await;
    assert!(invalidate!(Repo::load, 2).await);
    Repo::load(3).await;
    Repo::load_clear().await;
    assert!(Repo::load_cache().is_empty());
    assert_eq!(Repo.name(), "repo");
}

trait Store {
    async fn get(&self, id: u64) -> u64;
}

static GET_RUNS: AtomicUsize = AtomicUsize::new(0);

struct Backend {
    offset: u64,
}

#[cached]
impl Store for Backend {
    #[cached(skip(self))]
    async fn get(&self, id: u64) -> u64 {
        GET_RUNS.fetch_add(1, SeqCst);
        id + self.offset
    }
}

#[tokio::test]
async fn trait_impl_methods_are_memoized_with_companions_on_the_type() {
    let backend = Backend { offset: 100 };
    assert_eq!(backend.get(1).await, 101);
    assert_eq!(backend.get(1).await, 101);
    assert_eq!(GET_RUNS.load(SeqCst), 1);
    assert!(Backend::get_invalidate(1).await);
    assert_eq!(Backend { offset: 5 }.get(1).await, 6);
    assert!(invalidate!(Backend::get, 1).await);
    assert_eq!(Backend::get_stats().misses, 2);
}

#[async_trait::async_trait]
trait Boxed {
    async fn fetch(&self, id: u64) -> String;
}

#[derive(serde::Serialize)]
struct Remote {
    region: String,
}

static FETCH_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
#[async_trait::async_trait]
impl Boxed for Remote {
    /// `self` is part of the key here.
    #[cached]
    async fn fetch(&self, id: u64) -> String {
        FETCH_RUNS.fetch_add(1, SeqCst);
        format!("{}/{id}", self.region)
    }
}

#[tokio::test]
async fn async_trait_impls_are_memoized_when_cached_comes_first() {
    let eu = Remote {
        region: "eu".into(),
    };
    assert_eq!(eu.fetch(1).await, "eu/1");
    assert_eq!(eu.fetch(1).await, "eu/1");
    assert_eq!(FETCH_RUNS.load(SeqCst), 1);
    // Through the trait object too.
    let object: &dyn Boxed = &eu;
    assert_eq!(object.fetch(1).await, "eu/1");
    assert_eq!(FETCH_RUNS.load(SeqCst), 1);
    assert!(eu.fetch_invalidate(1).await);
    assert!(!invalidate!(Remote::fetch, &eu, 1).await);
    eu.fetch(1).await;
    assert!(invalidate!(Remote::fetch, &eu, 1).await);
}

/// One cache for the methods of two types.
static SHARED: LazyLock<AsyncCache> = LazyLock::new(AsyncCache::new);

struct Left;
struct Right;

impl Left {
    #[cached(cache = SHARED, skip(self))]
    async fn label(&self, id: u32) -> String {
        format!("left {id}")
    }
}

impl Right {
    #[cached(cache = SHARED, skip(self))]
    async fn label(&self, id: u32) -> String {
        format!("right {id}")
    }
}

#[tokio::test]
async fn clearing_one_types_method_leaves_the_other_types_entries() {
    assert_eq!(Left.label(1).await, "left 1");
    assert_eq!(Right.label(1).await, "right 1");
    assert_eq!(SHARED.len(), 2);
    assert_ne!(Left::label_key(1), Right::label_key(1));
    assert_ne!(
        Left::label_key(1).namespace(),
        Right::label_key(1).namespace()
    );

    Left::label_clear().await;
    assert_eq!(SHARED.len(), 1);
    // Right's entry is still there: a hit.
    let hits = SHARED.stats().hits;
    assert_eq!(Right.label(1).await, "right 1");
    assert_eq!(SHARED.stats().hits, hits + 1);
}
