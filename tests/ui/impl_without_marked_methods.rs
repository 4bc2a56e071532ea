use memo_runtime::cached;

struct Repo;

#[cached(ttl = 60)]
impl Repo {
    async fn load(id: u64) -> u64 {
        id
    }
}

fn main() {}
