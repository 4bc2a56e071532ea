use memo_runtime::cached;

struct Pool;

#[cached(skip(pool))]
async fn fetch(db: &Pool, id: u64) -> u64 {
    let _ = db;
    id
}

fn main() {}
