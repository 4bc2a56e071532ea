use memo_runtime::cached;

#[cached]
fn fetch(id: u64) -> u64 {
    id
}

fn main() {}
