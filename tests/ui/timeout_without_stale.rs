use memo_runtime::cached;

#[cached(ttl = 60, timeout = 0.5)]
async fn quote(symbol: String) -> u64 {
    symbol.len() as u64
}

#[cached(ttl = 60, stale = 600, timeout = 0.5)]
async fn borrowed(symbol: &str) -> u64 {
    symbol.len() as u64
}

fn main() {}
