use memo_runtime::cached;

#[cached]
async fn fetch(id: u64) -> String {
    id + 1
}

fn main() {}
