use memo_runtime::cached;

#[cached]
async fn fetch(counter: &mut u64, id: u64) -> u64 {
    *counter += 1;
    id
}

fn main() {}
