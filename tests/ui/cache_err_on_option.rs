use memo_runtime::cached;

#[cached(cache_none = false, cache_err = true)]
async fn find(id: u32) -> Option<u32> {
    Some(id)
}

fn main() {}
