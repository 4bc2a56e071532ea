use memo_runtime::cached;

struct Connection;

#[cached]
async fn fetch(conn: &Connection, id: u64) -> u64 {
    let _ = conn;
    id
}

fn main() {}
