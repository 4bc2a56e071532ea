use memo_runtime::cached;

#[derive(Clone)]
struct Session(String);

#[cached(expires = true)]
async fn session(user: u64) -> Session {
    Session(user.to_string())
}

fn main() {}
