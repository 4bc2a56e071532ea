use memo_runtime::cached;

struct Repo;

#[cached]
impl Repo {
    #[cached = "ttl 60"]
    async fn load(id: u64) -> u64 {
        id
    }
}

fn main() {}
