//! `invalidate!` with every kind of path: a function in nested modules (async
//! and sync, relative and `crate::`), an inherent method keyed on `self`
//! (receiver first) and a sync one.

use memo_runtime::{cached, invalidate};
use serde::Serialize;

mod outer {
    pub mod inner {
        #[memo_runtime::cached]
        pub async fn price(sku: u32) -> u32 {
            sku * 10
        }

        #[memo_runtime::cached]
        pub fn weight(sku: u32) -> u32 {
            sku * 2
        }
    }
}

#[tokio::test]
async fn module_paths_reach_the_functions_companions() {
    outer::inner::price(3).await;
    assert!(invalidate!(outer::inner::price, 3).await);
    assert!(
        !invalidate!(crate::outer::inner::price, 3).await,
        "already gone"
    );
    outer::inner::price(4).await;
    assert!(invalidate!(crate::outer::inner::price, 4).await);

    outer::inner::weight(5);
    let removed: bool = invalidate!(outer::inner::weight, 5);
    assert!(removed);
    assert!(outer::inner::weight::cache().is_empty());
}

#[derive(Serialize)]
struct Region {
    name: &'static str,
}

impl Region {
    #[cached]
    async fn tax(&self, amount: u32) -> u32 {
        amount / 5
    }

    #[cached]
    fn code(&self, n: u32) -> String {
        format!("{}-{n}", self.name)
    }
}

#[tokio::test]
async fn a_method_keyed_on_self_takes_the_receiver_first() {
    let eu = Region { name: "eu" };
    let us = Region { name: "us" };
    eu.tax(100).await;
    us.tax(100).await;
    assert!(invalidate!(Region::tax, &eu, 100).await);
    assert!(!invalidate!(Region::tax, &eu, 100).await);
    // `us`'s entry has another key and stays.
    assert_eq!(Region::tax_cache().len(), 1);
    assert!(invalidate!(Region::tax, &us, 100).await);

    assert_eq!(eu.code(1), "eu-1");
    assert!(invalidate!(Region::code, &eu, 1));
    assert!(!invalidate!(Region::code, &us, 1));
}
