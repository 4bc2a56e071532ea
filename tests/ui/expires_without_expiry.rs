use memo_runtime::cached;

#[derive(Clone)]
struct Session(String);

#[cached(expires = true)]
async fn session(user: u64) -> Session {
    Session(user.to_string())
}

#[cached(ttl = 60, refresh = 30, expires = true)]
async fn other(user: u64) -> u64 {
    user
}

fn main() {}
