use memo_runtime::cached;

struct Repo;

#[cached]
impl Repo {
    #[cached(ttl = 60, refresh = 50)]
    async fn find(&self, id: u64) -> String {
        id.to_string()
    }
}

#[cached(ttl = 60, refresh = 60)]
async fn search(query: &str, limit: u32) -> Vec<String> {
    vec![query.repeat(limit as usize)]
}

fn main() {}
