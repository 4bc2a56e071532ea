use memo_runtime::cached;

trait Store {
    async fn get(&self, id: u64) -> u64;
}

struct Repo;

impl Store for Repo {
    #[cached(skip(self))]
    async fn get(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
