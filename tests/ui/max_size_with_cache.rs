use std::sync::LazyLock;

use memo_runtime::{AsyncCache, cached};

static SHARED: LazyLock<AsyncCache> = LazyLock::new(AsyncCache::new);

#[cached(cache = SHARED, max_size = 10)]
async fn fetch(id: u64) -> u64 {
    id
}

fn main() {}
