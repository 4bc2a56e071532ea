use memo_runtime::cached;

struct User {
    id: u64,
}

#[cached]
async fn fetch(id: u64) -> User {
    User { id }
}

fn main() {}
