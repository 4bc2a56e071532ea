use memo_runtime::cached;

#[cached(ttl = 0)]
async fn fetch(id: u64) -> u64 {
    id
}

// The function is still emitted: only the attribute's error is reported,
// not a "cannot find function" at every caller.
async fn caller() -> u64 {
    fetch(1).await
}

fn main() {
    let _ = caller;
}
