use memo_runtime::cached;

#[cached(ttl = 60, size = 10)]
async fn fetch(id: u64) -> u64 {
    id
}

fn main() {}
