use memo_runtime::cached;

#[cached(ttl = 0)]
async fn fetch(id: u64) -> u64 {
    id
}

fn main() {}
