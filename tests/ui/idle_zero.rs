use memo_runtime::cached;

#[cached(ttl = 60, idle = 0)]
fn session(user: u64) -> u64 {
    user
}

fn main() {}
