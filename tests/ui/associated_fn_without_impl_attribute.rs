use memo_runtime::cached;

struct Repo;

impl Repo {
    #[cached]
    async fn load(id: u64) -> u64 {
        id
    }
}

fn main() {}
