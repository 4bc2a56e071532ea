use async_trait::async_trait;
use memo_runtime::cached;

#[async_trait]
trait Store {
    async fn get(&self, id: u64) -> u64;
}

struct Repo;

#[async_trait]
impl Store for Repo {
    #[cached(skip(self))]
    async fn get(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
