use memo_runtime::cached;

#[cached(cache_none = false)]
async fn count(id: u32) -> u32 {
    id
}

fn main() {}
