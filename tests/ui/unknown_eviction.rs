use memo_runtime::cached;

#[cached(eviction = lru)]
async fn fetch(id: u64) -> u64 {
    id
}

fn main() {}
