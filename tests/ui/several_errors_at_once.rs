use memo_runtime::cached;

#[cached(ttl = 0, max_size = 0, colour = red)]
async fn fetch(id: u64) -> u64 {
    id
}

fn main() {}
